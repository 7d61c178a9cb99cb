//! The programs in `examples/` run and print what their docs promise (so they cannot go stale).

#[path = "../examples/embed.rs"]
#[allow(dead_code)]
mod embed;

#[test]
fn embed_example_ranks_the_matching_water_cluster_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    embed::run(&dir.path().join("index"), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let first = text.lines().next().unwrap_or_default();
    assert!(first.starts_with("1 water-cn "), "{text}");
    assert!(
        first.contains("membranes") || first.contains("wastewater"),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "text: cars-de"), "{text}");
}

#[test]
fn engine_handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<clustermatch::Engine>();
    assert_send_sync::<clustermatch::ProfileIndex>();
    assert_send_sync::<clustermatch::server::AppState>();
}
