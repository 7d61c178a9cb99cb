//! The events planner's files (`event::input`): participant files (profiles or ids of stored
//! profiles, with `availability` and `max_meetings`), request files and kept agendas, each as
//! CSV or JSONL. The first byte picks the file kind and format; participants given by id are
//! looked up in a small in-memory index, and requests and kept meetings are checked against
//! its participants.
#![no_main]
use std::sync::OnceLock;

use clustermatch::event::input::{
    locked_from_records, participants_from_records, requests_from_records,
};
use clustermatch::event::{EventShape, Participant};
use clustermatch::input::{csv_records, jsonl_records, validate_records};
use clustermatch::Engine;
use libfuzzer_sys::fuzz_target;

const PROFILES: &[u8] = br#"{"id":"acme","name":"Acme","country":"FR","sectors":["environmental_services"]}
{"id":"beta","name":"Beta GmbH","country":"DE","description":"sensors"}
{"id":"gamma","name":"Gamma","country":"CN","target_countries":["EU"]}"#;

struct Fixture {
    shape: EventShape,
    engine: Engine,
    participants: Vec<Participant>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let shape = EventShape::parse_flags(
            &["09:00-12:00/20m".into(), "14:00-15:00/30m".into()],
            &["10:20-10:40".into()],
            Some(4),
        )
        .expect("shape");
        let records = jsonl_records("p.jsonl", PROFILES).expect("profiles");
        let profiles: Vec<_> = validate_records("p.jsonl", &records, &[])
            .expect("valid")
            .into_iter()
            .map(|p| p.profile)
            .collect();
        let engine = Engine::in_memory().expect("engine");
        engine.upsert(&profiles).expect("upsert");
        let participants =
            participants_from_records("p.jsonl", &records, &shape, None).expect("participants");
        Fixture {
            shape,
            engine,
            participants,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let records = if first & 1 == 0 {
        csv_records("f.csv", rest, None)
    } else {
        jsonl_records("f.jsonl", rest)
    };
    let Ok(records) = records else {
        return;
    };
    match (first >> 1) % 3 {
        0 => {
            let index = (first & 0x40 == 0).then_some(&f.engine);
            if let Ok(ps) = participants_from_records("f", &records, &f.shape, index) {
                for p in &ps {
                    if let Some(a) = &p.availability {
                        assert!(a.iter().all(|&s| s >= 1 && s <= f.shape.slots().len()));
                    }
                }
            }
        }
        1 => {
            let _ = requests_from_records("f", &records, &f.participants);
        }
        _ => {
            let _ = locked_from_records("f", &records, &f.participants);
        }
    }
});
