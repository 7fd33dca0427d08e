use super::*;
use souk_runtime::topology::Role;

fn records() -> Vec<String> {
    souk_schemas::Catalog::builtin().unwrap().names().map(str::to_string).collect()
}

fn shipped() -> Topology {
    Topology::parse(include_str!("../../topology.toml"), "").unwrap()
}

/// The shipped topology with `old` replaced by `new` (which must occur).
fn edited(old: &str, new: &str) -> Topology {
    let text = include_str!("../../topology.toml");
    assert!(text.contains(old), "{old:?} is not in topology.toml");
    Topology::parse(&text.replacen(old, new, 1), "").unwrap()
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn every_shipped_component_has_a_registered_kind_and_valid_options() {
    let t = shipped();
    assert_eq!(t.check(&records()), vec![]);
    assert_eq!(builtin().check(&t), vec![]);
    assert_eq!(builtin().selected(&t, &[]).unwrap().len(), t.all_components().count());
}

#[test]
fn an_unknown_kind_names_its_line_and_the_kinds_there_are() {
    let t = edited("kind = \"ledger\"", "kind = \"ledgr\"");
    let errors = builtin().check(&t);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, line_of(include_str!("../../topology.toml"), "kind = \"ledger\""));
    assert!(errors[0].message.contains("unknown processor kind \"ledgr\""), "{}", errors[0].message);
    assert!(errors[0].message.contains("inventory-pool, invoicing, ledger, negotiation, notification-feed, order-session"), "{}", errors[0].message);
}

#[test]
fn a_kind_of_another_role_is_unknown() {
    let errors = builtin().check(&edited("kind = \"ledger\"", "kind = \"clock\""));
    assert!(errors.iter().any(|e| e.message.contains("unknown processor kind \"clock\"")), "{errors:?}");
}

#[test]
fn options_are_checked_by_the_kinds_config_struct() {
    // A misspelt dispatcher timing, an option on a processor that takes none, a wrong type.
    let cases = [
        ("kind = \"whatsapp-dispatcher\"", "kind = \"whatsapp-dispatcher\"\nsettle_wait = 5", "settle_wait"),
        ("kind = \"invoicing\"", "kind = \"invoicing\"\nstore = \"invoicing\"", "store"),
        ("interval_ms = 1000", "interval_ms = \"soon\"", "interval_ms"),
        ("kind = \"http-gateway\"", "kind = \"http-gateway\"\nmax_skew = 60", "max_skew"),
        ("kind = \"payments-dispatcher\"", "kind = \"payments-dispatcher\"\nbackoff_max_ms = 5", "backoff_max_ms"),
    ];
    for (old, new, field) in cases {
        let errors = builtin().check(&edited(old, new));
        assert_eq!(errors.len(), 1, "{new}: {errors:?}");
        assert!(errors[0].message.contains(field), "{new}: {}", errors[0].message);
    }
    // Known options parse.
    let t = edited("kind = \"whatsapp-dispatcher\"", "kind = \"whatsapp-dispatcher\"\nsettle_wait_ms = 5000\nbackoff_ms = 100");
    assert_eq!(builtin().check(&t), vec![]);
    let options: souk_sinks::whatsapp::DispatcherOptions = t.component(Role::Sink, "whatsapp-dispatcher").unwrap().options().unwrap();
    let settings = options.settings("http://x", "v1");
    assert_eq!((settings.settle_wait, settings.backoff, settings.base_url.as_str()), (std::time::Duration::from_secs(5), std::time::Duration::from_millis(100), "http://x"));
    assert_eq!(settings.delivery_window, souk_sinks::whatsapp::DispatcherSettings::default().delivery_window);
    let t = edited("kind = \"payments-dispatcher\"", "kind = \"payments-dispatcher\"\nbackoff_ms = 100\nmax_backoff_ms = 2000\nrequest_timeout_ms = 5000");
    assert_eq!(builtin().check(&t), vec![]);
    let options: souk_sinks::payments::PaymentsOptions = t.component(Role::Sink, "payments-dispatcher").unwrap().options().unwrap();
    let settings = options.settings("http://stripe");
    assert_eq!(
        (settings.backoff, settings.backoff_max, settings.request_timeout, settings.base_url.as_str()),
        (std::time::Duration::from_millis(100), std::time::Duration::from_secs(2), std::time::Duration::from_secs(5), "http://stripe")
    );
    assert_eq!(settings.connect_timeout, souk_sinks::payments::PaymentsSettings::default().connect_timeout);
}

#[test]
fn only_selects_declared_components_and_needs_follow_their_kinds() {
    let (r, t) = (builtin(), shipped());
    assert!(r.selected(&t, &["nope".into()]).unwrap_err().to_string().contains("--only nope"));
    let processors = r.selected(&t, &["ledger".into(), "inventory-pool".into()]).unwrap();
    assert_eq!(processors, vec![(Role::Processor, "inventory-pool".to_string()), (Role::Processor, "ledger".to_string())]);
    assert_eq!(r.needs(&t, &processors).unwrap(), Needs::NOTHING);
    assert_eq!(r.needs(&t, &r.selected(&t, &["inventory-postgres".into()]).unwrap()).unwrap(), Needs::DATABASE);
    // the gateway writes events only; the read API is what needs the read models
    assert_eq!(r.needs(&t, &r.selected(&t, &["clock".into(), "gateway".into()]).unwrap()).unwrap(), Needs::TENANTS);
    assert_eq!(r.needs(&t, &r.selected(&t, &["search-api".into()]).unwrap()).unwrap(), Needs::TENANTS);
    assert_eq!(r.needs(&t, &r.selected(&t, &["gateway".into(), "read-api".into()]).unwrap()).unwrap(), Needs::DATABASE_AND_TENANTS);
    // the payments dispatcher needs each tenant's secret key and the runner's offsets
    assert_eq!(r.needs(&t, &r.selected(&t, &["payments-dispatcher".into()]).unwrap()).unwrap(), Needs::DATABASE_AND_TENANTS);
}

#[test]
fn a_registered_kind_is_found_by_role_and_name_only() {
    fn build(_: Arc<BuildContext>, _: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
        Box::pin(async { Ok(Started::task(async { Ok(()) })) })
    }
    let mut r = Registry::default();
    r.register(Role::Sink, "console", Kind::new::<NoOptions>(Needs::NOTHING, build));
    assert!(r.kind(Role::Sink, "console").is_ok());
    assert!(r.kind(Role::Processor, "console").is_err());
    assert_eq!(r.names(Role::Sink), vec!["console"]);
}

#[test]
#[should_panic(expected = "registered twice")]
fn a_kind_registered_twice_is_a_bug() {
    let mut r = builtin();
    let ledger = *r.kind(Role::Processor, "ledger").unwrap();
    r.register(Role::Processor, "ledger", ledger);
}
