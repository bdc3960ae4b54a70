//! `bench router`'s report for people: the table of runs, the ratios, the node's own figures,
//! losses and memory.

use super::{busy_text, Report};

/// The report as tables and sentences for people.
pub fn print(report: &Report) {
    print_table(report);
    print_ratios(report);
    print_node_figures(report);
    print_losses_and_memory(report);
    print_floods(report);
}

/// Each router's flood: the share forwarded and the rate.
fn print_floods(report: &Report) {
    for run in report.runs() {
        if let Some(flood) = &run.flood {
            let drops: Vec<String> = flood
                .node_drops
                .iter()
                .map(|(reason, count)| format!("{count:.0} {reason}"))
                .collect();
            println!(
                "{}: flood over {} connections: {} of {} forwarded ({:.2}%) at {:.0} packets/s{}",
                run.name,
                flood.connections,
                flood.forwarded,
                flood.sent,
                flood.forwarded_share * 100.0,
                flood.forwarded_pps,
                if drops.is_empty() {
                    String::new()
                } else {
                    format!("; node dropped {}", drops.join(", "))
                }
            );
        }
    }
}

/// The header and one row per run, then the extra load points.
fn print_table(report: &Report) {
    println!(
        "bench router: router on CPU {}, load generator and sink on CPU {}, {:.1} s phases",
        report.router_cpu, report.load_cpu, report.phase_seconds
    );
    println!(
        "crypto-only batched unwrap (batches of 32): {:.0} packets/s",
        report.crypto_only_pps
    );
    println!();
    println!(
        "{:<44} {:>10} {:>6} | {:>22} | {:>22}",
        "router", "max pps", "CPU%", "50%: p50/p99/p999 µs", "90%: p50/p99/p999 µs"
    );
    for run in report.runs() {
        println!(
            "{:<44} {:>10.0} {:>6.0} | {:>22} | {:>22}",
            run.name,
            run.max_pps,
            run.max_cpu_percent,
            format!(
                "{}/{}/{}",
                run.at_50.p50_us, run.at_50.p99_us, run.at_50.p999_us
            ),
            format!(
                "{}/{}/{}",
                run.at_90.p50_us, run.at_90.p99_us, run.at_90.p999_us
            ),
        );
    }
    for run in report.runs() {
        for point in &run.other_loads {
            println!(
                "{:<44} at {:.0}% of max ({:.0}/s): p50/p99/p999 {}/{}/{} µs, CPU {:.0}%{}",
                run.name,
                point.fraction_of_max * 100.0,
                point.offered_pps,
                point.p50_us,
                point.p99_us,
                point.p999_us,
                point.router_cpu_percent,
                busy_text(point)
            );
        }
    }
}

/// The routers' ratios and how far each one's maximum drifted.
fn print_ratios(report: &Report) {
    println!();
    if let Some(ratio) = report.ours_over_baseline {
        println!(
            "router-core / baseline, forwarded packets/s:     {ratio:.2}x (means of each one's maxima before and after its load points)"
        );
    }
    println!(
        "router-core / crypto-only batched unwrap rate:   {:.0}%",
        report.ours_over_crypto_only * 100.0
    );
    if let Some(ratio) = report.noise_over_plain {
        println!(
            "router-core Noise links / plain links:           {:.1}% (means of each one's maxima, same invocation)",
            ratio * 100.0
        );
    }
    for run in report.runs() {
        println!(
            "{}: max {:.0} packets/s before the load points, {:.0} after ({:+.0}%)",
            run.name,
            run.max_pps,
            run.max_after_pps,
            (run.max_after_pps / run.max_pps.max(1.0) - 1.0) * 100.0
        );
    }
}

/// What router-core's own metrics said at 50% and 90% load.
fn print_node_figures(report: &Report) {
    for run in report.ours_runs() {
        if let (Some(p50), Some(p90)) = (run.at_50.node_p99_le_us, run.at_90.node_p99_le_us) {
            println!(
                "{}: node-side arrival-to-write p99 at 50%/90% load: <= {p50:.0}/{p90:.0} µs (metrics buckets)",
                run.name
            );
        }
        if let (Some(b50), Some(b90)) = (run.at_50.node_busy_percent, run.at_90.node_busy_percent) {
            println!(
                "{}: node busy (tasks and IO, idle polling left out) at 50%/90% load: {b50:.0}/{b90:.0}% of the core",
                run.name
            );
        }
        if let (Some(p50), Some(p90)) = (
            run.at_50.node_socket_wait_p99_le_us,
            run.at_90.node_socket_wait_p99_le_us,
        ) {
            println!(
                "{}: socket-buffer wait before the node's reads, p99 at 50%/90% load: <= {p50:.0}/{p90:.0} µs (metrics buckets)",
                run.name
            );
        }
    }
}

/// Packets lost at the load points and the memory held packets cost.
fn print_losses_and_memory(report: &Report) {
    println!(
        "lost packets at 50%/90%: ours {}/{}{}",
        report.ours.at_50.lost,
        report.ours.at_90.lost,
        report
            .baseline
            .as_ref()
            .map(|b| format!(", baseline {}/{}", b.at_50.lost, b.at_90.lost))
            .unwrap_or_default()
    );
    if let Some(held) = &report.held {
        println!(
            "memory: {} packets held: RSS {} -> {} KiB = {:.0} B per packet ({} B buffer + {:.0} B overhead; static bound {} B)",
            held.packets,
            held.rss_before_kib,
            held.rss_after_kib,
            held.bytes_per_held_packet,
            held.buffer_bytes_per_packet,
            held.overhead_bytes_per_packet,
            held.static_overhead_bytes
        );
    }
}
