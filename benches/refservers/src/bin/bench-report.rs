//! Turns the raw measurements written by `benches/run.sh` into the markdown
//! table (`benches/results/latest.md`) and a hand-written SVG bar chart
//! (`benches/results/latest.svg`).
//!
//! `bench-report RAW.tsv OUT.md OUT.svg`; `bench-report pool RAW.tsv...`
//! prints the per-round ratios of several runs pooled (median, rounds ≤ 1).
//!
//! RAW.tsv lines (tab-separated):
//! - `meta KEY VALUE`: free-form facts about the run (date, load average, ...);
//! - `server ID LABEL GROUP`: a server, in display order; GROUP is `main`
//!   (compared in the tables), `variant` (our server's pinning variants) or
//!   `log` (our server with the access log on, compared with `ours`);
//! - `run ID METRIC VALUE [ROUND]`: one measurement of one run; several runs
//!   of the same cell are reduced to their median. ROUND (1, 2, ...) pairs
//!   the servers' values that were measured back to back: a ratio between
//!   two servers is then the median of the per-round ratios, which a host
//!   whose speed drifts over minutes moves far less than a ratio of medians.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Our server's id; every ratio is ours / reference.
const OURS: &str = "ours";
/// Our server with the access log on, as `examples/wsgi.rs` ships.
const OURS_LOG: &str = "ours-log";
/// Reference servers the ratios are computed against, in column order.
const REFERENCES: [(&str, &str); 3] = [
    ("may", "vs may_minihttp"),
    ("hyper", "vs hyper"),
    ("eventlet", "vs eventlet (Python)"),
];

#[derive(Default)]
struct Raw {
    meta: Vec<(String, String)>,
    servers: Vec<Server>,
    /// (server id, metric) → values, one per run, in input order.
    runs: BTreeMap<(String, String), Vec<f64>>,
    /// (server id, metric) → round → value, for the runs that name a round.
    rounds: BTreeMap<(String, String), BTreeMap<u32, f64>>,
}

struct Server {
    id: String,
    label: String,
    main: bool,
}

fn parse(text: &str) -> Result<Raw, String> {
    let mut raw = Raw::default();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            [] | [""] => {}
            ["meta", k, v] => raw.meta.push((k.to_string(), v.to_string())),
            ["server", id, label, group] => raw.servers.push(Server {
                id: id.to_string(),
                label: label.to_string(),
                main: *group == "main",
            }),
            ["run", id, metric, value, round @ ..] if round.len() <= 1 => {
                let v: f64 = value
                    .parse()
                    .map_err(|_| format!("line {}: not a number: {value}", n + 1))?;
                let key = (id.to_string(), metric.to_string());
                if let Some(round) = round.first() {
                    let r: u32 = round
                        .parse()
                        .map_err(|_| format!("line {}: not a round: {round}", n + 1))?;
                    raw.rounds.entry(key.clone()).or_default().insert(r, v);
                }
                raw.runs.entry(key).or_default().push(v);
            }
            _ => return Err(format!("line {}: unrecognised: {line}", n + 1)),
        }
    }
    Ok(raw)
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

impl Raw {
    fn get(&self, id: &str, metric: &str) -> Option<f64> {
        median(self.runs.get(&(id.to_string(), metric.to_string()))?)
    }

    /// `a`'s `metric` over `b`'s: the median of the per-round ratios where
    /// both name rounds, else the ratio of the medians.
    fn ratio(&self, a: &str, b: &str, metric: &str) -> Option<f64> {
        let per_round = self.round_ratios(a, b, metric);
        if !per_round.is_empty() {
            return median(&per_round);
        }
        match (self.get(a, metric)?, self.get(b, metric)?) {
            (x, y) if y > 0.0 => Some(x / y),
            _ => None,
        }
    }

    /// `a`'s value over `b`'s in each round both were measured in.
    fn round_ratios(&self, a: &str, b: &str, metric: &str) -> Vec<f64> {
        let key = |id: &str| (id.to_string(), metric.to_string());
        let (Some(ra), Some(rb)) = (self.rounds.get(&key(a)), self.rounds.get(&key(b))) else {
            return Vec::new();
        };
        ra.iter()
            .filter_map(|(round, x)| Some(x / rb.get(round).filter(|y| **y > 0.0)?))
            .collect()
    }

    fn has_server(&self, id: &str) -> bool {
        self.servers.iter().any(|s| s.id == id)
    }

    /// KiB of RSS per idle connection from the `rss_<n>` and `rss_idle` medians.
    fn kib_per_conn(&self, id: &str, n: &str, count: f64) -> Option<f64> {
        Some((self.get(id, &format!("rss_{n}"))? - self.get(id, "rss_idle")?) / count)
    }

    fn main_servers(&self) -> impl Iterator<Item = &Server> {
        self.servers.iter().filter(|s| s.main)
    }
}

/// `1234567.8` → `1,234,568`.
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 {
        out.insert(0, '-');
    }
    out
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "n/a".to_string(), f)
}

/// A `req/s / p99 ms` cell.
fn rate_cell(raw: &Raw, id: &str, cell: &str) -> String {
    match (
        raw.get(id, &format!("{cell}_rps")),
        raw.get(id, &format!("{cell}_p99")),
    ) {
        (Some(r), Some(p)) => format!("{} / {p:.2}", thousands(r)),
        (Some(r), None) => thousands(r),
        _ => "n/a".into(),
    }
}

fn cpu_cell(raw: &Raw, id: &str) -> String {
    match (raw.get(id, "cpu_us"), raw.get(id, "cpu_pct")) {
        (Some(us), Some(pct)) => format!("{us:.2} ({pct:.0}%)"),
        (Some(us), None) => format!("{us:.2}"),
        _ => "n/a".into(),
    }
}

fn mib(kib: Option<f64>) -> String {
    opt(kib, |k| format!("{:.1}", k / 1024.0))
}

const RATE_CELLS: [(&str, &str); 5] = [
    ("ka64", "keep-alive c64"),
    ("ka256", "keep-alive c256"),
    ("ka1000", "keep-alive c1000"),
    ("rst", "new conn/s, RST close, 32 threads"),
    ("post", "POST 1 MiB echo c16"),
];

fn throughput_table(raw: &Raw, out: &mut String) {
    out.push_str("## Throughput (median req/s / median p99 ms)\n\n");
    out.push_str("Server pinned to CPU 0 (`taskset -c 0`), load generator pinned to CPU 1.\n\n");
    out.push_str("| server |");
    for (_, title) in RATE_CELLS {
        let _ = write!(out, " {title} |");
    }
    out.push_str(" server CPU µs/req at c64 (busy %) |\n|---|");
    out.push_str(&"---|".repeat(RATE_CELLS.len() + 1));
    out.push('\n');
    for s in raw.main_servers() {
        let _ = write!(out, "| {} |", s.label);
        for (cell, _) in RATE_CELLS {
            let _ = write!(out, " {} |", rate_cell(raw, &s.id, cell));
        }
        let _ = writeln!(out, " {} |", cpu_cell(raw, &s.id));
    }
    out.push('\n');
}

/// Server CPU µs per request at each keep-alive cell (pinned servers).
fn cpu_table(raw: &Raw, out: &mut String) {
    let cells = ["ka64", "ka256", "ka1000"];
    let metric = |id: &str, cell: &str| raw.get(id, &format!("{cell}_cpu_us"));
    if !raw
        .main_servers()
        .any(|s| cells.iter().any(|c| metric(&s.id, c).is_some()))
    {
        return;
    }
    out.push_str(
        "## Server CPU per request (median µs, user + system, from /proc)

",
    );
    out.push_str("| server | c64 | c256 | c1000 |\n|---|---|---|---|\n");
    for s in raw.main_servers() {
        let _ = write!(out, "| {} |", s.label);
        for c in cells {
            let _ = write!(out, " {} |", opt(metric(&s.id, c), |v| format!("{v:.2}")));
        }
        out.push('\n');
    }
    out.push('\n');
}

/// Servers measured by `benches/instr.sh` that are not in the main list.
const INSTR_EXTRA: [(&str, &str); 3] = [
    (
        OURS_LOG,
        "eventlet-rs, access log on (as examples/wsgi.rs: eventlet_wsgi::logging::init)",
    ),
    (
        "ours-log-envlogger",
        "eventlet-rs, access log on, plain env_logger into a BatchWriter",
    ),
    (
        "ours-log-unbatched",
        "eventlet-rs, access log on, env_logger writing each line",
    ),
];

fn instr_table(raw: &Raw, out: &mut String) {
    let conns = ["64", "256", "1000"];
    let has = |id: &str| {
        conns
            .iter()
            .any(|c| raw.get(id, &format!("instr_c{c}")).is_some())
    };
    let mut rows: Vec<(&str, &str)> = raw
        .main_servers()
        .map(|s| (s.id.as_str(), s.label.as_str()))
        .collect();
    rows.extend(INSTR_EXTRA);
    rows.retain(|(id, _)| has(id));
    if rows.is_empty() {
        return;
    }
    out.push_str(
        "## Instructions per request (callgrind; independent of the machine's load)

",
    );
    out.push_str("`benches/instr.sh`: a fixed keep-alive sequence (examples/bench_reqseq.rs), server under `valgrind --tool=callgrind` on one CPU; two runs that differ only in the number of rounds, so start-up and shutdown cancel out. User-space instructions only: the syscalls/request columns (strace, same method) show what the kernel adds.\n\n");
    out.push_str("| server | instr/req c64 | c256 | c1000 | syscalls/req c64 | c256 | c1000 |\n|---|---|---|---|---|---|---|\n");
    for (id, label) in rows {
        let _ = write!(out, "| {label} |");
        for c in conns {
            let _ = write!(
                out,
                " {} |",
                opt(raw.get(id, &format!("instr_c{c}")), thousands)
            );
        }
        for c in conns {
            let _ = write!(
                out,
                " {} |",
                opt(raw.get(id, &format!("sys_c{c}")), |v| format!("{v:.2}"))
            );
        }
        out.push('\n');
    }
    if let (Some(on), Some(off)) = (raw.get(OURS_LOG, "instr_c64"), raw.get(OURS, "instr_c64")) {
        let _ = writeln!(
            out,
            "\nAccess log on / off at c64: {:.2}x instructions per request.",
            on / off
        );
    }
    out.push('\n');
}

fn memory_table(raw: &Raw, out: &mut String) {
    out.push_str("## Memory (VmRSS of a freshly started server, median)\n\n");
    out.push_str("Idle, then holding 1,000 and then 10,000 idle keep-alive connections that each made one request.\n\n");
    out.push_str("| server | idle MiB | 1,000 conns MiB | 10,000 conns MiB | KiB/conn (1,000) | KiB/conn (10,000) |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for s in raw.main_servers() {
        let id = &s.id;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            s.label,
            mib(raw.get(id, "rss_idle")),
            mib(raw.get(id, "rss_1k")),
            mib(raw.get(id, "rss_10k")),
            opt(raw.kib_per_conn(id, "1k", 1000.0), |k| format!("{k:.1}")),
            opt(raw.kib_per_conn(id, "10k", 10000.0), |k| format!("{k:.1}")),
        );
    }
    out.push('\n');
}

/// What a row of the ratio table compares.
#[derive(Clone, Copy)]
enum RowMetric {
    /// A measured metric, paired by round where the runs name rounds.
    Cell(&'static str),
    /// KiB of RSS per idle connection at `rss_<n>` with this many connections.
    KibPerConn(&'static str, f64),
}

const RATIO_ROWS: [(&str, RowMetric); 14] = [
    (
        "instructions/request c64 (lower is better)",
        RowMetric::Cell("instr_c64"),
    ),
    (
        "instructions/request c256 (lower is better)",
        RowMetric::Cell("instr_c256"),
    ),
    (
        "instructions/request c1000 (lower is better)",
        RowMetric::Cell("instr_c1000"),
    ),
    ("req/s keep-alive c64", RowMetric::Cell("ka64_rps")),
    ("req/s keep-alive c256", RowMetric::Cell("ka256_rps")),
    ("req/s keep-alive c1000", RowMetric::Cell("ka1000_rps")),
    (
        "p99 keep-alive c1000 (lower is better)",
        RowMetric::Cell("ka1000_p99"),
    ),
    ("new conn/s (RST close)", RowMetric::Cell("rst_rps")),
    ("POST 1 MiB echo req/s", RowMetric::Cell("post_rps")),
    (
        "CPU µs/req c64 (lower is better)",
        RowMetric::Cell("cpu_us"),
    ),
    (
        "CPU µs/req c256 (lower is better)",
        RowMetric::Cell("ka256_cpu_us"),
    ),
    (
        "CPU µs/req c1000 (lower is better)",
        RowMetric::Cell("ka1000_cpu_us"),
    ),
    (
        "KiB/conn at 1,000 (lower is better)",
        RowMetric::KibPerConn("1k", 1000.0),
    ),
    (
        "KiB/conn at 10,000 (lower is better)",
        RowMetric::KibPerConn("10k", 10000.0),
    ),
];

fn row_ratio(raw: &Raw, ours: &str, reference: &str, metric: RowMetric) -> Option<f64> {
    match metric {
        RowMetric::Cell(m) => raw.ratio(ours, reference, m),
        RowMetric::KibPerConn(n, count) => {
            let (a, b) = (
                raw.kib_per_conn(ours, n, count)?,
                raw.kib_per_conn(reference, n, count)?,
            );
            (b > 0.0).then(|| a / b)
        }
    }
}

/// The per-round ratios behind the ratio table's load rows, to show how
/// far they move from round to round.
const ROUND_ROWS: [(&str, &str); 6] = [
    ("CPU µs/req c64", "cpu_us"),
    ("CPU µs/req c256", "ka256_cpu_us"),
    ("CPU µs/req c1000", "ka1000_cpu_us"),
    ("req/s c1000", "ka1000_rps"),
    ("p99 c1000", "ka1000_p99"),
    ("req/s c64", "ka64_rps"),
];

fn ratio_table(raw: &Raw, out: &mut String) {
    let refs: Vec<(&str, &str)> = REFERENCES
        .iter()
        .copied()
        .filter(|(id, _)| raw.has_server(id))
        .collect();
    if refs.is_empty() || !raw.has_server(OURS) {
        return;
    }
    out.push_str(
        "## Ratios ours / reference

",
    );
    out.push_str("Load cells: the median of the per-round ratios (each round measures the servers back to back); instructions and memory: the ratio of the medians.\n\n| metric |");
    for (_, title) in &refs {
        let _ = write!(out, " {title} |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(refs.len()));
    out.push('\n');
    for (name, metric) in RATIO_ROWS {
        let _ = write!(out, "| {name} |");
        for (id, _) in &refs {
            let cell = opt(row_ratio(raw, OURS, id, metric), |r| format!("{r:.2}"));
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out.push('\n');
    round_ratios_section(raw, &refs, out);
}

fn round_ratios_section(raw: &Raw, refs: &[(&str, &str)], out: &mut String) {
    let mut lines = Vec::new();
    let mut pairs: Vec<(&str, &str)> = refs.iter().map(|(id, title)| (*id, *title)).collect();
    pairs.push((OURS_LOG, "access log on / off"));
    for (name, metric) in ROUND_ROWS {
        for (id, title) in &pairs {
            // ours-log / ours: the log's cost, c64 only.
            let rs = if *id == OURS_LOG {
                if !metric.starts_with("cpu_us") && metric != "ka64_rps" {
                    continue;
                }
                raw.round_ratios(OURS_LOG, OURS, metric)
            } else {
                raw.round_ratios(OURS, id, metric)
            };
            if rs.len() > 1 {
                let vals: Vec<String> = rs.iter().map(|r| format!("{r:.2}")).collect();
                lines.push(format!("- {name}, {title}: {}", vals.join(", ")));
            }
        }
    }
    if !lines.is_empty() {
        out.push_str("Per-round ratios (round 1, 2, ...):\n\n");
        out.push_str(&lines.join("\n"));
        out.push_str("\n\n");
    }
}

fn pinning_table(raw: &Raw, out: &mut String) {
    let variants: Vec<&Server> = raw
        .servers
        .iter()
        .filter(|s| !s.main && s.id != OURS_LOG)
        .collect();
    if variants.is_empty() {
        return;
    }
    out.push_str("## Our server: pinned vs unpinned (median req/s / median p99 ms)\n\n");
    out.push_str(
        "The first row is the main table's (server `taskset -c 0`, 1 worker; wrk `taskset -c 1`). ",
    );
    out.push_str(
        "The others run without taskset for server or wrk, with the default 2 workers.\n\n",
    );
    out.push_str("| configuration | keep-alive c64 | keep-alive c256 | server CPU µs/req at c64 (busy %) |\n|---|---|---|---|\n");
    let rows = raw
        .servers
        .iter()
        .filter(|s| s.id == OURS)
        .chain(variants.iter().copied());
    for s in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            s.label,
            rate_cell(raw, &s.id, "ka64"),
            rate_cell(raw, &s.id, "ka256"),
            cpu_cell(raw, &s.id)
        );
    }
    out.push('\n');
}

/// The access log's cost: our server with it on (as `examples/wsgi.rs`
/// ships) against `ours` (off), same run.
fn log_table(raw: &Raw, out: &mut String) {
    if !raw.has_server(OURS_LOG) || !raw.has_server(OURS) {
        return;
    }
    out.push_str("## Access log on vs off (c64)\n\n");
    out.push_str("Our server as `examples/wsgi.rs` ships (`eventlet_wsgi::logging::init`, stderr not a terminal: /dev/null in this run) against the same server with the log off; on / off is the median of the per-round ratios where the runs name rounds.\n\n");
    out.push_str("| metric | log off | log on | on / off |\n|---|---|---|---|\n");
    type LogRow = (&'static str, &'static str, fn(f64) -> String);
    let rows: [LogRow; 3] = [
        ("server CPU µs/req", "cpu_us", |v| format!("{v:.2}")),
        ("req/s", "ka64_rps", thousands),
        ("instructions/request (callgrind)", "instr_c64", thousands),
    ];
    for (name, metric, show) in rows {
        let (off, on) = (raw.get(OURS, metric), raw.get(OURS_LOG, metric));
        let ratio = opt(raw.ratio(OURS_LOG, OURS, metric), |r| format!("{r:.2}"));
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {ratio} |",
            opt(off, show),
            opt(on, show)
        );
    }
    out.push('\n');
}

fn errors_section(raw: &Raw, out: &mut String) {
    let mut lines = Vec::new();
    for ((id, metric), values) in &raw.runs {
        if metric.ends_with("_errors") && values.iter().any(|v| *v > 0.0) {
            let vals: Vec<String> = values.iter().map(|v| thousands(*v)).collect();
            lines.push(format!("- {id} {metric}: {}", vals.join(", ")));
        }
    }
    if !lines.is_empty() {
        out.push_str("## Errors (socket errors + non-2xx responses, per run)\n\n");
        out.push_str(&lines.join("\n"));
        out.push_str("\n\n");
    }
}

fn raw_section(raw: &Raw, out: &mut String) {
    out.push_str("## Raw runs\n\n(max − min) / median, then each run's value.\n\n");
    for s in &raw.servers {
        for ((id, metric), values) in &raw.runs {
            if *id != s.id || metric.ends_with("_errors") {
                continue;
            }
            let vals: Vec<String> = values.iter().map(|v| format!("{v:.2}")).collect();
            let spread = match (median(values), values.len() > 1) {
                (Some(m), true) if m != 0.0 => {
                    let (lo, hi) = values
                        .iter()
                        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
                    format!("{:.1}%", (hi - lo) / m * 100.0)
                }
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "- {} / {metric}: {spread} ({})",
                s.label,
                vals.join(", ")
            );
        }
    }
}

fn markdown(raw: &Raw) -> String {
    let mut out = String::from("# eventlet-rs benchmark: latest run\n\n");
    for (k, v) in &raw.meta {
        let _ = writeln!(out, "- {k}: {v}");
    }
    out.push('\n');
    throughput_table(raw, &mut out);
    cpu_table(raw, &mut out);
    instr_table(raw, &mut out);
    memory_table(raw, &mut out);
    ratio_table(raw, &mut out);
    pinning_table(raw, &mut out);
    log_table(raw, &mut out);
    errors_section(raw, &mut out);
    raw_section(raw, &mut out);
    out
}

const PALETTE: [&str; 6] = [
    "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];
const WIDTH: f64 = 960.0;
const PANEL_H: f64 = 240.0;
const MAX_BAR_W: f64 = 70.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn short(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The value the y axis tops out at. One bar far above all others (Python's
/// CPU per request) would flatten the rest, so it is drawn clipped instead.
fn scale_top(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.as_slice() {
        [.., second, first] if *second > 0.0 && *first > 4.0 * second => second * 1.5,
        [.., first] => *first,
        [] => 0.0,
    }
}

/// Where a panel goes and what it is called.
struct Frame<'a> {
    x: f64,
    y: f64,
    w: f64,
    title: &'a str,
}

/// One panel of grouped bars: `groups` along x, one bar per server in each.
fn panel(svg: &mut String, f: &Frame, groups: &[(&str, Vec<Option<f64>>)]) {
    let all: Vec<f64> = groups
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().copied())
        .collect();
    let top = scale_top(&all);
    let plot_h = PANEL_H - 70.0;
    let base = f.y + 35.0 + plot_h;
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
        f.x,
        f.y + 18.0,
        esc(f.title)
    );
    let _ = writeln!(
        svg,
        r##"<line x1="{}" y1="{base}" x2="{}" y2="{base}" stroke="#333"/>"##,
        f.x,
        f.x + f.w
    );
    let group_w = f.w / groups.len().max(1) as f64;
    for (g, (name, values)) in groups.iter().enumerate() {
        let x0 = f.x + g as f64 * group_w;
        let n = values.len().max(1) as f64;
        let bar_w = ((group_w - 30.0) / n).min(MAX_BAR_W);
        let left = x0 + (group_w - bar_w * n) / 2.0;
        for (i, v) in values.iter().enumerate() {
            let Some(v) = *v else { continue };
            let clipped = top > 0.0 && v > top;
            let h = if top > 0.0 {
                v.min(top) / top * plot_h
            } else {
                0.0
            };
            let x = left + i as f64 * bar_w;
            let _ = writeln!(
                svg,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"/>"#,
                base - h,
                bar_w - 4.0,
                PALETTE[i % PALETTE.len()]
            );
            if clipped {
                // A white zig-zag across the bar: "off the scale".
                let y = base - h + 12.0;
                let _ = writeln!(
                    svg,
                    r#"<path d="M{x:.1} {y:.1} l{:.1} -6 l{:.1} 6" stroke="white" stroke-width="3" fill="none"/>"#,
                    (bar_w - 4.0) / 2.0,
                    (bar_w - 4.0) / 2.0
                );
            }
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
                x + (bar_w - 4.0) / 2.0,
                base - h - 3.0,
                short(v)
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            x0 + group_w / 2.0,
            base + 16.0,
            esc(name)
        );
    }
}

fn legend(svg: &mut String, servers: &[&Server]) {
    let mut x = 20.0;
    for (i, s) in servers.iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="12" width="12" height="12" fill="{}"/><text x="{}" y="22" font-size="12">{}</text>"#,
            PALETTE[i % PALETTE.len()],
            x + 16.0,
            esc(&s.label)
        );
        x += 30.0 + 7.0 * s.label.chars().count() as f64;
    }
}

fn chart(raw: &Raw) -> String {
    let servers: Vec<&Server> = raw.main_servers().collect();
    let series = |metric: &str| -> Vec<Option<f64>> {
        servers.iter().map(|s| raw.get(&s.id, metric)).collect()
    };
    let height = 70.0 + 2.0 * PANEL_H;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
"#
    );
    legend(&mut svg, &servers);
    let rates = [
        ("keep-alive c64", series("ka64_rps")),
        ("keep-alive c256", series("ka256_rps")),
        ("keep-alive c1000", series("ka1000_rps")),
        ("new connection (RST close)", series("rst_rps")),
    ];
    let full = Frame {
        x: 20.0,
        y: 40.0,
        w: WIDTH - 40.0,
        title: "Requests per second, server on 1 core (median; higher is better)",
    };
    panel(&mut svg, &full, &rates);
    let half = (WIDTH - 60.0) / 2.0;
    let post = Frame {
        x: 20.0,
        y: 40.0 + PANEL_H,
        w: half,
        title: "POST 1 MiB echo c16, req/s (higher is better)",
    };
    panel(&mut svg, &post, &[("", series("post_rps"))]);
    let cpu = Frame {
        x: 40.0 + half,
        y: 40.0 + PANEL_H,
        w: half,
        title: "Server CPU µs per request, c64 (lower is better)",
    };
    panel(&mut svg, &cpu, &[("", series("cpu_us"))]);
    let note: Vec<String> = raw
        .meta
        .iter()
        .filter(|(k, _)| {
            k == "date" || k.starts_with("load average at start") || k == "load average at end"
        })
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let _ = writeln!(
        svg,
        r##"<text x="20" y="{}" font-size="11" fill="#555">{}</text>"##,
        height - 8.0,
        esc(&note.join("; "))
    );
    svg.push_str("</svg>\n");
    svg
}

/// The per-round ratios of several runs pooled: for each load row, the
/// median of every round's ratio and how many rounds were ≤ 1.
fn pooled(raws: &[Raw]) -> String {
    let mut out = String::from(
        "| metric | against | rounds | median of the per-round ratios | rounds ≤ 1 |\n|---|---|---|---|---|\n",
    );
    let mut pairs: Vec<(&str, &str, &str)> = REFERENCES
        .iter()
        .map(|(id, title)| (OURS, *id, *title))
        .collect();
    pairs.push((OURS_LOG, OURS, "access log on / off"));
    for (name, metric) in ROUND_ROWS {
        for (a, b, title) in &pairs {
            if *a == OURS_LOG && !metric.starts_with("cpu_us") && metric != "ka64_rps" {
                continue;
            }
            let rs: Vec<f64> = raws
                .iter()
                .flat_map(|r| r.round_ratios(a, b, metric))
                .collect();
            let Some(m) = median(&rs) else { continue };
            let below = rs.iter().filter(|r| **r <= 1.0).count();
            let _ = writeln!(
                out,
                "| {name} | {title} | {} | {m:.2} | {below} |",
                rs.len()
            );
        }
    }
    out
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "pool") {
        let mut raws = Vec::new();
        for input in &args[1..] {
            let text = std::fs::read_to_string(input).map_err(|e| format!("{input}: {e}"))?;
            raws.push(parse(&text)?);
        }
        print!("{}", pooled(&raws));
        return Ok(());
    }
    let [input, md_out, svg_out] = args.as_slice() else {
        return Err(
            "usage: bench-report RAW.tsv OUT.md OUT.svg | bench-report pool RAW.tsv...".into(),
        );
    };
    let text = std::fs::read_to_string(input).map_err(|e| format!("{input}: {e}"))?;
    let raw = parse(&text)?;
    let md = markdown(&raw);
    std::fs::write(md_out, &md).map_err(|e| format!("{md_out}: {e}"))?;
    std::fs::write(svg_out, chart(&raw)).map_err(|e| format!("{svg_out}: {e}"))?;
    print!("{md}");
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench-report: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
    }

    #[test]
    fn a_far_outlier_is_clipped_not_scaled_to() {
        assert_eq!(scale_top(&[10.0, 12.0, 200.0]), 18.0);
        assert_eq!(scale_top(&[10.0, 12.0, 30.0]), 30.0);
    }

    #[test]
    fn ratios_use_medians_of_runs() {
        let raw = parse(
            "server\tours\tours\tmain\nserver\tmay\tmay\tmain\n\
             run\tours\tka64_rps\t100\nrun\tours\tka64_rps\t300\nrun\tours\tka64_rps\t200\n\
             run\tmay\tka64_rps\t400\n",
        )
        .unwrap();
        let mut out = String::new();
        ratio_table(&raw, &mut out);
        assert!(out.contains("| req/s keep-alive c64 | 0.50 |"), "{out}");
    }

    #[test]
    fn ratios_pair_values_by_round_when_rounds_are_named() {
        // Round 2 ran on a host twice as slow for both servers: the ratio of
        // the medians (150 / 200 = 0.75) misses the 0.5 each round shows.
        let raw = parse(
            "server\tours\tours\tmain\nserver\tmay\tmay\tmain\n\
             run\tours\tka1000_cpu_us\t5\t1\nrun\tmay\tka1000_cpu_us\t10\t1\n\
             run\tours\tka1000_cpu_us\t10\t2\nrun\tmay\tka1000_cpu_us\t20\t2\n\
             run\tours\tka1000_cpu_us\t20\t3\nrun\tmay\tka1000_cpu_us\t40\t3\n\
             run\tmay\tka1000_cpu_us\t1\t4\n",
        )
        .unwrap();
        assert_eq!(
            raw.round_ratios("ours", "may", "ka1000_cpu_us"),
            [0.5, 0.5, 0.5]
        );
        let mut out = String::new();
        ratio_table(&raw, &mut out);
        assert!(
            out.contains("| CPU µs/req c1000 (lower is better) | 0.50 |"),
            "{out}"
        );
        assert!(
            out.contains("- CPU µs/req c1000, vs may_minihttp: 0.50, 0.50, 0.50"),
            "{out}"
        );
        assert!(parse("run\tours\tcpu_us\t1\tfirst\n").is_err());
    }

    #[test]
    fn pooled_ratios_take_every_round_of_every_run() {
        let run = |a: f64, b: f64| {
            parse(&format!(
                "server\tours\tours\tmain\nserver\tmay\tmay\tmain\n\
                 run\tours\tka1000_cpu_us\t{a}\t1\nrun\tmay\tka1000_cpu_us\t{b}\t1\n"
            ))
            .unwrap()
        };
        let out = pooled(&[run(9.0, 10.0), run(12.0, 10.0), run(8.0, 10.0)]);
        assert!(
            out.contains("| CPU µs/req c1000 | vs may_minihttp | 3 | 0.90 | 2 |"),
            "{out}"
        );
    }

    #[test]
    fn log_on_is_compared_with_log_off_and_is_not_a_pinning_variant() {
        let raw = parse(
            "server\tours\tours\tmain\nserver\tours-log\tlog on\tlog\n\
             run\tours\tcpu_us\t4.0\nrun\tours-log\tcpu_us\t4.4\n\
             run\tours\tinstr_c64\t7000\nrun\tours-log\tinstr_c64\t8400\n",
        )
        .unwrap();
        let mut out = String::new();
        log_table(&raw, &mut out);
        assert!(
            out.contains("| server CPU µs/req | 4.00 | 4.40 | 1.10 |"),
            "{out}"
        );
        assert!(
            out.contains("| instructions/request (callgrind) | 7,000 | 8,400 | 1.20 |"),
            "{out}"
        );
        let mut pinning = String::new();
        pinning_table(&raw, &mut pinning);
        assert!(pinning.is_empty(), "{pinning}");
    }
}
