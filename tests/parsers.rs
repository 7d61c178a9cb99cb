//! Property tests: no input line or file content makes a parser panic, whatever the bytes.

use clustermatch::input::{csv_records, jsonl_records, validate_records};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn jsonl_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(records) = jsonl_records("x.jsonl", &bytes[..]) {
            let _ = validate_records("x.jsonl", &records, &[]);
        }
    }

    #[test]
    fn jsonl_like_lines_never_panic(line in r#"\{("(id|name|country|sectors|kind|members|target_countries|x)":( ?"[^"]{0,12}"|[0-9.e-]{1,8}|\[("[a-zA-Z;]{0,8}",?){0,3}\]|null|true|\{\}),?){0,6}\}"#) {
        if let Ok(records) = jsonl_records("x.jsonl", line.as_bytes()) {
            let _ = validate_records("x.jsonl", &records, &[]);
        }
    }

    #[test]
    fn csv_never_panics(text in r#"(id|name|country|sectors|members)?([,;\t"]?[a-zA-Z0-9 ;"\r\n]{0,10}){0,12}"#) {
        if let Ok(records) = csv_records("x.csv", text.as_bytes(), None) {
            let _ = validate_records("x.csv", &records, &[]);
        }
    }
}
