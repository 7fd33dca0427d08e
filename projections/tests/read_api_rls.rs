//! Row-level security of the read models (rules PR4; source 002 §b, every table under RLS):
//! every table with a `tenant_id` has the tenant policy; a read as the reader role that names no
//! tenant sees nothing in any of them; a read scoped to tenant A sees only A's rows even with no
//! `WHERE` at all; and through the API, A's key never reads B's rows.

mod api_support;

use api_support::{exec, serve};
use souk_projections::api::{scoped, READER_ROLE};
use sqlx::{PgPool, Row};

const PRODUCT: &str = "INSERT INTO products (tenant_id, product_id, name, description, category, base_price, status, images, total_stock, low_threshold, availability, variant_count, created_at, last_event_id, updated_at, source_offset) \
     VALUES ($1, 'p-shared-id', 'Linen shirt of ' || $1, '', 'clothing', 29.99, 'active', '[]', 5, 10, 'low_stock', 0, now(), 'e1', now(), 1)";

async fn pool() -> PgPool {
    souk_runtime::testkit::require_stack("read-api-rls").await;
    let pool = PgPool::connect(&souk_runtime::stack::database_url()).await.expect("postgres");
    souk_projections::migrate(&pool).await.expect("migrate");
    pool
}

/// Every base table of the read models' schema with a `tenant_id` column.
async fn tenant_tables(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.table_name::text FROM information_schema.columns c JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = current_schema() AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("tables")
}

#[tokio::test]
async fn every_tenant_table_is_under_the_tenant_policy() {
    let pool = pool().await;
    let tables = tenant_tables(&pool).await;
    for expected in ["products", "social_messages", "notifications", "business_rules", "orders", "bundles", "command_outcomes"] {
        assert!(tables.iter().any(|t| t == expected), "{expected} is a tenant table: {tables:?}");
    }
    for table in &tables {
        let row = sqlx::query(
            "SELECT c.relrowsecurity, EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = current_schema() AND p.tablename = c.relname AND p.policyname = 'tenant_isolation' AND $2 = ANY (p.roles)) AS policy \
             FROM pg_class c WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace",
        )
        .bind(table)
        .bind(READER_ROLE)
        .fetch_one(&pool)
        .await
        .expect("pg_class");
        assert!(row.get::<bool, _>("relrowsecurity") && row.get::<bool, _>("policy"), "{table} has a tenant_id but no row-level security for {READER_ROLE}");
    }
}

#[tokio::test]
async fn a_read_sees_only_its_tenants_rows_and_none_without_a_tenant() {
    let api = serve("read-api-rls", "key-rls-a", "key-rls-b", |pool, a, b| async move {
        exec(&pool, PRODUCT, &a).await;
        exec(&pool, PRODUCT, &b).await;
    })
    .await;
    let pool = pool().await;
    let (a, b): (String, String) = {
        let listed = api.ok("/v1/inventory/products", "key-rls-a").await;
        let name = listed["products"][0]["name"].as_str().unwrap().to_string();
        let a = name.trim_start_matches("Linen shirt of ").to_string();
        (a.clone(), a.replacen("a-", "b-", 1))
    };

    // At SQL level, with no WHERE at all: scoped to A, only A's rows.
    let mut tx = scoped(&pool, &a).await.unwrap();
    let tenants: Vec<String> = sqlx::query_scalar("SELECT tenant_id FROM products").fetch_all(&mut *tx).await.unwrap();
    assert!(!tenants.is_empty() && tenants.iter().all(|t| *t == a), "{tenants:?}");
    drop(tx);
    // As the reader with no tenant named, nothing in any tenant table.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(&format!("SET LOCAL ROLE {READER_ROLE}")).execute(&mut *tx).await.unwrap();
    for table in tenant_tables(&pool).await {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&mut *tx).await.unwrap();
        assert_eq!(n, 0, "{table}: a read without a tenant sees nothing");
    }
    drop(tx);
    // The owner role (the sinks) sees both.
    let both: i64 = sqlx::query_scalar("SELECT count(*) FROM products WHERE tenant_id IN ($1, $2)").bind(&a).bind(&b).fetch_one(&pool).await.unwrap();
    assert_eq!(both, 2);

    // Through the API: the same product id in both tenants, each key reads its own.
    let (_, mine) = api.get("/v1/inventory/products/p-shared-id", Some("key-rls-a")).await;
    assert_eq!(mine["name"], format!("Linen shirt of {a}"));
    let (_, theirs) = api.get("/v1/inventory/products/p-shared-id", Some("key-rls-b")).await;
    assert_eq!(theirs["name"], format!("Linen shirt of {b}"));
    let listed = api.ok("/v1/inventory/products?status=all", "key-rls-a").await;
    assert_eq!(listed["pagination"]["total_items"], 1, "{listed}");
}
