//! `make demo`: the skew gauntlet. Runs every strategy over the grid of clock offsets,
//! lifetimes, leeways, cached issuers and wall steps, prints the table, writes every row to
//! `target/demo/gauntlet.json` and the same rows as heatmaps to `target/demo/gauntlet.html`
//! (one self-contained page; `tokenclock::sim::render_gauntlet_html`), and prints its path.
//!
//! Usage: `cargo run --release -p tokenclock --features sim --example demo [-- --seed N --hours H]`

use std::time::Instant;
use tokenclock::sim::{
    gauntlet_cells, render_breakdown, render_gauntlet_html, render_summary, rows, run_cell,
    GauntletRun, Row,
};

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let seed: u64 = arg("--seed", 1);
    let hours: f64 = arg("--hours", 3.0);
    let out_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/demo");
    let started = Instant::now();
    let cells = gauntlet_cells(seed, hours);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunks: Vec<Vec<_>> = cells
        .chunks(cells.len().div_ceil(threads))
        .map(<[_]>::to_vec)
        .collect();
    let mut all: Vec<Row> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .flat_map(|c| rows(c, &run_cell(*c, false)))
                        .collect::<Vec<Row>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    all.sort_by(|a, b| a.strategy.cmp(b.strategy));
    let elapsed = started.elapsed();
    println!(
        "tokenclock skew gauntlet: {} cells x {} h simulated, a request every ~5 s (seed {seed}), {:.1} s wall time\n",
        cells.len(),
        hours,
        elapsed.as_secs_f64()
    );
    print!("{}", render_summary(&all));
    println!();
    print!("{}", render_breakdown(&all));
    std::fs::create_dir_all(&out_dir).expect("create target/demo");
    let path = out_dir.join("gauntlet.json");
    std::fs::write(&path, serde_json::to_string_pretty(&all).expect("json"))
        .expect("write gauntlet.json");
    println!("\nrows: target/demo/gauntlet.json ({} rows)", all.len());
    let run = GauntletRun {
        seed,
        hours,
        request_interval_s: cells.first().map_or(5.0, |c| c.request_interval_s),
    };
    let html = out_dir.join("gauntlet.html");
    std::fs::write(&html, render_gauntlet_html(&all, &run)).expect("write gauntlet.html");
    let shown = html.canonicalize().unwrap_or(html);
    println!("report: {}", shown.display());
}
