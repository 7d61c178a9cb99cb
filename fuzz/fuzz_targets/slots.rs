//! Slot specifications: the `--slots`/`--break` flags (`09:00-12:30/20m`, `10:30-11:00`, comma
//! lists) and the `[event]` section of the TOML config, then the shape check, the slots cut and
//! availability text (`1-4;7`, `09:00-10:30`) against them. The first byte picks the form;
//! for flags the text is lines: slots, breaks, availability.
#![no_main]
use clustermatch::config::Config;
use clustermatch::event::input::parse_availability;
use clustermatch::event::{EventShape, MAX_SLOTS};
use libfuzzer_sys::fuzz_target;

fn cut(shape: &EventShape, availability: &str) {
    if shape.check().is_err() {
        return;
    }
    let slots = shape.slots();
    assert!(!slots.is_empty() && slots.len() <= MAX_SLOTS);
    for w in slots.windows(2) {
        assert!(w[0].end <= w[1].start, "slots overlap: {w:?}");
    }
    if let Ok(a) = parse_availability(availability, &slots) {
        assert!(a.iter().all(|&s| s >= 1 && s <= slots.len()));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if first & 1 == 0 {
        let mut lines = text.splitn(3, '\n');
        let slots = lines.next().unwrap_or_default();
        let breaks = lines.next().unwrap_or_default();
        let availability = lines.next().unwrap_or_default();
        let tables = (first & 2 != 0).then_some(usize::from(first >> 2));
        if let Ok(shape) = EventShape::parse_flags(&[slots.into()], &[breaks.into()], tables) {
            cut(&shape, availability);
        }
    } else if let Ok(config) = Config::parse("f.toml", text) {
        let c = config.event;
        let shape = EventShape {
            sessions: c.slots,
            breaks: c.breaks,
            tables: c.tables,
            min_score: c.min_score.unwrap_or(0.2),
            max_meetings: c.max_meetings.unwrap_or(8),
            date: c.date,
            name: c.name.unwrap_or_default(),
        };
        cut(&shape, "1-3;5");
    }
});
