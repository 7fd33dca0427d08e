//! What the reply stage knows of a tenant's products: the `products.availability` table the
//! product aggregates write (compacted, caught up before every batch — never a read model), and
//! the answers it gives from it with the source's three templates (§a.6). The table holds no
//! counts, so no answer can reveal one (rules C4).

use super::drafter::{draft, normalise, Draft};
use souk_runtime::codec::Codec;
use souk_runtime::global_table::GlobalTable;
use souk_runtime::topology::SourceTopic;
use souk_schemas::products::{AvailabilityEvent, ProductAvailability};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Every product's customer-facing view by `<tenant>|<product_id>`.
pub type AvailabilityTable = GlobalTable<AvailabilityEvent, ProductAvailability>;

/// How sure the drafter is of an answer read from the table.
pub const TABLE_CONFIDENCE: &str = "0.920";
/// Alternatives offered for a product that is out.
pub const ALTERNATIVES: usize = 2;

fn fold(rows: &mut HashMap<String, ProductAvailability>, key: &str, event: AvailabilityEvent) {
    let AvailabilityEvent::ProductAvailability(view) = event;
    rows.insert(key.to_string(), view);
}

/// Loads the table of `topic` (the stage's `tables` entry).
pub async fn load(bootstrap: &str, codec: Arc<Codec>, topic: &SourceTopic) -> anyhow::Result<AvailabilityTable> {
    GlobalTable::of(bootstrap, codec, topic, Box::new(fold), Duration::from_secs(60)).await
}

/// The products of `tenant`, ordered by id (so drafts do not depend on map order).
pub fn of_tenant(table: &AvailabilityTable, tenant: &str) -> Vec<ProductAvailability> {
    let prefix = format!("{tenant}|");
    let mut products: Vec<ProductAvailability> = table.read(|rows| rows.iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(_, v)| v.clone()).collect());
    products.sort_by(|a, b| a.product_id.cmp(&b.product_id));
    products
}

/// The variant attribute value the words ask for (`size m`, `blue`): a value of one character
/// only right after its attribute's name, longer ones anywhere as whole words.
fn asked_value<'p>(words: &str, product: &'p ProductAvailability) -> Option<&'p str> {
    let have: Vec<&str> = words.split(' ').collect();
    product.variants.iter().flat_map(|v| v.attributes.iter()).find_map(|(name, value)| {
        let value_words = normalise(value);
        let name_words = normalise(name);
        let hit = if value_words.chars().count() <= 1 { have.windows(2).any(|w| w[0] == name_words && w[1] == value_words) } else { value_words.split(' ').all(|w| have.contains(&w)) };
        (hit && !value_words.is_empty()).then_some(value.as_str())
    })
}

/// The answer about `product` to a message whose words are `words`.
pub fn answer(product: &ProductAvailability, words: &str, products: &[ProductAvailability]) -> Draft {
    let name = &product.name;
    let reason = |what: &str| format!("availability of product {} from the table: {what}", product.product_id);
    if let Some(value) = asked_value(words, product) {
        let with_value: Vec<_> = product.variants.iter().filter(|v| v.attributes.values().any(|a| a == value)).collect();
        if with_value.iter().any(|v| v.available) {
            return draft(&format!("Yes, {name} in {value} is currently available!"), TABLE_CONFIDENCE, &reason(&format!("{value} available")));
        }
        let others: Vec<&str> = product.variants.iter().filter(|v| v.available).flat_map(|v| v.attributes.values().map(String::as_str)).filter(|a| *a != value).fold(Vec::new(), |mut seen, a| {
            if !seen.contains(&a) {
                seen.push(a);
            }
            seen
        });
        let mut text = format!("I'm sorry, {name} in {value} is currently out of stock. Would you like to be notified when it's back?");
        if !others.is_empty() {
            text.push_str(&format!(" It is available in {}.", others.join(", ")));
        }
        return draft(&text, TABLE_CONFIDENCE, &reason(&format!("{value} out of stock")));
    }
    match product.status.as_str() {
        "available" => draft(&format!("Yes, {name} is currently available!"), TABLE_CONFIDENCE, &reason("available")),
        "low_stock" => draft(&format!("We have limited stock of {name}. Order soon!"), TABLE_CONFIDENCE, &reason("low stock")),
        _ => {
            let alternatives: Vec<&str> = products
                .iter()
                .filter(|p| p.active && p.product_id != product.product_id && p.category == product.category && p.status != "out_of_stock")
                .take(ALTERNATIVES)
                .map(|p| p.name.as_str())
                .collect();
            let mut text = format!("I'm sorry, {name} is currently out of stock. Would you like to be notified when it's back?");
            if !alternatives.is_empty() {
                text.push_str(&format!(" You might also like {}.", alternatives.join(" or ")));
            }
            draft(&text, TABLE_CONFIDENCE, &reason("out of stock"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::drafter::draft_reply;
    use rstest::rstest;
    use souk_schemas::products::{ProductAvailability, VariantAvailability};
    use souk_schemas::Envelope;

    fn product(id: &str, name: &str, category: &str, status: &str, sizes: &[(&str, bool)]) -> ProductAvailability {
        ProductAvailability {
            envelope: Envelope::external("shop", id, 0),
            product_id: id.into(),
            name: name.into(),
            category: category.into(),
            active: true,
            status: status.into(),
            variants: sizes
                .iter()
                .enumerate()
                .map(|(i, (size, available))| VariantAvailability {
                    variant_id: format!("{id}:{}", i + 1),
                    name: size.to_string(),
                    attributes: [("size".to_string(), size.to_string())].into(),
                    available: *available,
                })
                .collect(),
        }
    }

    fn shelf() -> Vec<ProductAvailability> {
        vec![
            product("p1", "Linen shirt", "clothing", "available", &[("S", true), ("M", true), ("L", false)]),
            product("p2", "Denim jacket", "clothing", "low_stock", &[("M", true)]),
            product("p3", "Wool scarf", "clothing", "out_of_stock", &[("One size", false)]),
            product("p4", "Silk tie", "clothing", "available", &[("One size", true)]),
        ]
    }

    #[rstest]
    #[case::available("Is the linen shirt available?", &[], "Yes, Linen shirt is currently available!")]
    #[case::a_size_in_stock("Do you have the linen shirt in size M?", &[], "Yes, Linen shirt in M is currently available!")]
    #[case::a_size_out("Linen shirt in size L?", &[], "I'm sorry, Linen shirt in L is currently out of stock. Would you like to be notified when it's back? It is available in S, M.")]
    #[case::low_stock("Any denim jacket left?", &[], "We have limited stock of Denim jacket. Order soon!")]
    #[case::example_11_out_with_alternatives_of_its_category("Is the wool scarf in stock?", &[], "I'm sorry, Wool scarf is currently out of stock. Would you like to be notified when it's back? You might also like Linen shirt or Denim jacket.")]
    #[case::named_earlier_in_the_conversation("Do you have this in size M?", &["I love the linen shirt"], "Yes, Linen shirt in M is currently available!")]
    fn answers_from_the_table(#[case] text: &str, #[case] earlier: &[&str], #[case] expected: &str) {
        let earlier: Vec<String> = earlier.iter().map(|s| s.to_string()).collect();
        let d = draft_reply(text, &earlier, &shelf());
        assert_eq!(d.text, expected, "{}", d.reason);
        assert_eq!(d.confidence.to_string(), super::TABLE_CONFIDENCE);
        assert!(!d.text.chars().any(|c| c.is_ascii_digit()), "never a count");
    }

    #[test]
    fn nothing_named_stays_a_question_for_a_person() {
        assert_eq!(draft_reply("Do you have this in size M?", &[], &shelf()).confidence.to_string(), "0.650");
        let mut inactive = shelf();
        inactive.iter_mut().for_each(|p| p.active = false);
        assert_eq!(draft_reply("Is the linen shirt available?", &[], &inactive).confidence.to_string(), "0.650", "inactive products are not offered");
    }
}
