//! Runs one gauntlet cell and prints every strategy's outcome and tokenclock's timeline.
//!
//! `cargo run -p tokenclock --features sim --example cell -- --client-offset 0 --rs-offset 0 --ttl 60 --leeway 0 --cached-age 0 --step 120 --hours 0.1`
use tokenclock::sim::{render_summary, rows, run_cell, Cell};

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let cell = Cell {
        client_offset_s: arg("--client-offset", 0.0),
        rs_offset_s: arg("--rs-offset", 0.0),
        ttl_s: arg("--ttl", 300),
        rs_leeway_s: arg("--leeway", 0),
        cached_age_s: arg("--cached-age", 0),
        step_s: arg("--step", 0),
        hours: arg("--hours", 3.0),
        request_interval_s: arg("--interval", 5.0),
        seed: arg("--seed", 1),
    };
    let outcomes = run_cell(cell, true);
    print!("{}", render_summary(&rows(&cell, &outcomes)));
    let lines: usize = arg("--lines", 40);
    for l in outcomes[0].timeline.iter().take(lines) {
        println!("{l}");
    }
}
