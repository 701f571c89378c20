//! The spam scanner over arbitrary bytes: MIME parsing, tokenizing (HTML, links), the rules
//! and the classifier must never panic, whatever a stranger sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn model() -> &'static hermod_spam::Model {
    static MODEL: OnceLock<hermod_spam::Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let mut model = hermod_spam::Model::default();
        for i in 0..60u64 {
            model.learn(&[i, i * 7, hermod_spam::tokens::hash("", "free")], hermod_spam::Class::Spam);
            model.learn(&[i + 1000, hermod_spam::tokens::hash("", "meeting")], hermod_spam::Class::Ham);
        }
        model
    })
}

fuzz_target!(|data: &[u8]| {
    let verdict = hermod_spam::scan(data, model(), 1_795_867_200);
    let _ = verdict.header_fields(hermod_spam::Thresholds { junk: 5.0, reject: 15.0 });
});
