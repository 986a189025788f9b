//! The full per-message analysis (tokens, sentiment, intent, human request,
//! entities, redaction), as `handoff analyze` and the engine run it, on a
//! mix of support-shaped messages; plus learning the default taxonomy,
//! which happens once at start-up.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use handoff::analysis::{Analyzer, AnalyzerSettings, Scratch};

/// Short and long, calm and angry, with and without facts to extract.
const MESSAGES: &[&str] = &[
    "hi, where is my order #88123? it was due last week",
    "I was charged TWICE for my subscription!!! this is unacceptable, refund me now",
    "can I talk to a real person please",
    "how do I change the email on my account",
    "@acme the app crashes every time I open it since the update 😡",
    "thanks, that fixed it 👍",
    "My card 4242 4242 4242 4242 was declined but the money left my account, call me on +44 20 7946 0958",
    "I love how nobody answered my email for a week. great service",
    "what are your opening hours on sundays?",
    "Please cancel my plan and send the final invoice to jane.doe@example.com, I paid $49.99 on https://example.com/billing",
];

fn analysis(c: &mut Criterion) {
    let analyzer = Analyzer::new(&AnalyzerSettings::default());
    let mut scratch = Scratch::default();
    let mut group = c.benchmark_group("analysis");
    group.throughput(Throughput::Elements(MESSAGES.len() as u64));
    group.bench_function("full_per_message_x10", |b| {
        b.iter(|| {
            for m in MESSAGES {
                std::hint::black_box(
                    analyzer
                        .analyze(std::hint::black_box(m), &mut scratch)
                        .unwrap(),
                );
            }
        })
    });
    group.finish();
    let settings = AnalyzerSettings::default();
    c.bench_function("learn_default_taxonomy", |b| {
        b.iter(|| std::hint::black_box(Analyzer::new(&settings)))
    });
}

criterion_group!(benches, analysis);
criterion_main!(benches);
