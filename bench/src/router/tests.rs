use super::*;

fn options(linger_us: Vec<u64>, busy_poll_us: Vec<u64>) -> Options {
    Options {
        router_cpu: 0,
        load_cpu: 1,
        phase: Duration::from_secs(1),
        skip_baseline: true,
        held: 0,
        linger_us,
        busy_poll_us,
        extra_loads: Vec::new(),
        max_before_each_load: false,
        flood_packets: 0,
        flood_connections: 4,
        noise: false,
    }
}

#[test]
fn every_linger_is_measured_with_every_busy_poll_setting_lingers_outermost() {
    assert_eq!(
        engine_settings(&options(vec![500, 0], vec![0, 200])),
        vec![
            (Some(500), Some(0)),
            (Some(500), Some(200)),
            (Some(0), Some(0)),
            (Some(0), Some(200)),
        ]
    );
    assert_eq!(
        engine_settings(&options(Vec::new(), vec![200])),
        vec![(None, Some(200))]
    );
    assert_eq!(
        engine_settings(&options(Vec::new(), Vec::new())),
        vec![(None, None)]
    );
    assert_eq!(
        run_name(Some(250), Some(200)),
        "router-core (1 shard, linger 250 µs, poll 200 µs)"
    );
    assert_eq!(run_name(None, None), "router-core (1 shard)");
}

#[test]
fn packets_cover_every_flat_out_phase_and_the_paced_ones() {
    let mut o = options(Vec::new(), Vec::new());
    o.extra_loads = vec![0.8];
    // Flat out twice plus 50%, 90% and 80% of a phase: 4.2 phases of 1 s at 10,000/s.
    assert_eq!(packets_needed(10_000.0, &o), 42_000);
    // And flat out before each of the three load points.
    o.max_before_each_load = true;
    assert_eq!(packets_needed(10_000.0, &o), 72_000);
    assert_eq!(packets_needed(10.0, &o), 10_000, "never fewer than 10,000");
    // And the flood's on top.
    o.flood_packets = 60_000;
    assert_eq!(packets_needed(10_000.0, &o), 132_000);
}

#[test]
fn node_rates_are_per_second_between_two_scrapes() {
    let before = "mixnet_busy_seconds_total 1.5\n";
    let after = "mixnet_busy_seconds_total 3\n";
    let rate = node_rate(before, after, "mixnet_busy_seconds_total", 2.0).unwrap();
    assert!((rate - 0.75).abs() < 1e-9, "{rate}");
    assert_eq!(
        node_rate(before, "", "mixnet_busy_seconds_total", 2.0),
        None
    );
}
