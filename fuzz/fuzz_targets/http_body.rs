//! HTTP request bodies, through the functions the server's handlers use once the content type
//! is checked: `POST /match` (`routes::parse_match_request`), `PUT /profiles`
//! (`routes::parse_profiles_body`) and `POST /batch` (`batch::parse_batch_request`, everything
//! but the planning). The first byte picks the endpoint; ids are looked up in a small
//! in-memory index.
#![no_main]
use std::sync::OnceLock;

use clustermatch::input::{jsonl_records, validate_records};
use clustermatch::score::ScoringParams;
use clustermatch::server::batch::parse_batch_request;
use clustermatch::server::routes::{parse_match_request, parse_profiles_body};
use clustermatch::server::ServerOptions;
use clustermatch::Engine;
use libfuzzer_sys::fuzz_target;

const PROFILES: &[u8] = br#"{"id":"acme","name":"Acme","country":"FR","sectors":["environmental_services"]}
{"id":"beta","name":"Beta GmbH","country":"DE","description":"sensors"}"#;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let records = jsonl_records("p.jsonl", PROFILES).expect("profiles");
        let profiles: Vec<_> = validate_records("p.jsonl", &records, &[])
            .expect("valid")
            .into_iter()
            .map(|p| p.profile)
            .collect();
        let engine = Engine::in_memory().expect("engine");
        engine.upsert(&profiles).expect("upsert");
        engine
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    match first % 3 {
        0 => {
            let options = ServerOptions::default();
            if let Ok((_, opts, params)) =
                parse_match_request(body, &options, &ScoringParams::default())
            {
                assert!(opts.top >= 1 && opts.top <= options.max_top);
                assert!(params.weights.check().is_ok());
            }
        }
        1 => {
            if let Ok(ps) = parse_profiles_body(body) {
                assert!(!ps.is_empty());
            }
        }
        _ => {
            if let Ok((shape, ps, _)) = parse_batch_request(body, engine(), 50) {
                assert!(!ps.is_empty() && ps.len() <= 50);
                assert!(shape.check().is_ok());
            }
        }
    }
});
