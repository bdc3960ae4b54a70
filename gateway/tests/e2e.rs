//! Gateways and mixnodes as real processes on loopback, clients speaking the websocket
//! protocol, packets built by `sphinx-packet` in Nym's layout (SURB-ACK first).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use gateway_protocol::{ClientControl, DeliveryKind, GatewayControl};

const FLAGS: [&str; 2] = [
    "--danger-allow-any-next-hop",
    "--free-bandwidth-for-testing",
];

fn stored(answer: &Option<GatewayControl>) -> u64 {
    match answer {
        Some(GatewayControl::Registered { stored, .. })
        | Some(GatewayControl::Authenticated { stored, .. }) => *stored,
        other => panic!("not a handshake answer: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_cross_three_mixnodes_live_and_through_the_mailbox_across_a_sigkill() {
    let home = tempfile::tempdir().unwrap();
    let mut mixes: Vec<Process> = (1..=3)
        .map(|i| Process::mixnode(home.path(), &format!("m{i}")))
        .collect();
    for m in &mut mixes {
        m.start(&["--danger-allow-any-next-hop"]);
    }
    let mut ga = Process::gateway(home.path(), "ga", &[]);
    let mut gb = Process::gateway(home.path(), "gb", &[]);
    ga.start(&FLAGS);
    gb.start(&FLAGS);
    let layers = [&mixes[0], &mixes[1], &mixes[2]];

    let mut alice = TestClient::new(1, &ga);
    let mut bob = TestClient::new(2, &gb);
    let mut a = alice.register().await;
    let mut b = bob.register().await;

    // Live: the message reaches Bob, then Bob's gateway sends the ack back to Alice.
    let packet = message_with_ack(
        &layers,
        &gb,
        bob.destination(),
        &ga,
        alice.destination(),
        b"hello bob",
        [9; 21],
    );
    a.send_packet(&mixes[0].addr, &packet).await;
    assert_eq!(
        b.next().await,
        Event::Delivery {
            kind: DeliveryKind::Message,
            stored_id: None,
            bytes: b"hello bob".to_vec()
        }
    );
    assert_eq!(
        a.next().await,
        Event::Delivery {
            kind: DeliveryKind::Ack,
            stored_id: None,
            bytes: vec![9; 21]
        }
    );
    assert_eq!(gb.metric("gateway_delivered_live_total"), 1);
    assert_eq!(gb.metric("gateway_acks_sent_total"), 1);

    // Bob goes offline: messages are stored, and only then acked.
    b.ws.close(None).await.unwrap();
    gb.wait_metric("gateway_clients_connected", |v| v == 0);
    for (text, id) in [(&b"first while away"[..], 10u8), (b"second while away", 11)] {
        let packet = message_with_ack(
            &layers,
            &gb,
            bob.destination(),
            &ga,
            alice.destination(),
            text,
            [id; 21],
        );
        a.send_packet(&mixes[0].addr, &packet).await;
    }
    let mut acks = vec![a.next().await, a.next().await];
    acks.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        acks,
        vec![
            Event::Delivery {
                kind: DeliveryKind::Ack,
                stored_id: None,
                bytes: vec![10; 21]
            },
            Event::Delivery {
                kind: DeliveryKind::Ack,
                stored_id: None,
                bytes: vec![11; 21]
            },
        ]
    );
    assert_eq!(
        gb.metric("gateway_stored_total"),
        2,
        "acked means committed"
    );

    // Carol, another client of the same gateway, sees none of it and cannot delete it.
    let mut carol = TestClient::new(3, &gb);
    let mut c = carol.register().await;
    assert_eq!(stored(&c.answer), 0);
    c.send_sealed(&ClientControl::Received {
        ids: (0..10).collect(),
    })
    .await;

    // SIGKILL, restart: the acknowledged messages are still there.
    gb.kill();
    gb.start(&FLAGS);
    let mut b = bob.authenticate().await;
    assert_eq!(stored(&b.answer), 2);
    let mut got = Vec::new();
    for _ in 0..2 {
        match b.next().await {
            Event::Delivery {
                kind: DeliveryKind::Message,
                stored_id: Some(id),
                bytes,
            } => got.push((id, bytes)),
            other => panic!("expected a stored message, got {other:?}"),
        }
    }
    got.sort();
    assert_eq!(
        got.iter().map(|(_, m)| m.as_slice()).collect::<Vec<_>>(),
        vec![&b"first while away"[..], b"second while away"],
        "in arrival order"
    );
    b.send_sealed(&ClientControl::Received {
        ids: got.iter().map(|(id, _)| *id).collect(),
    })
    .await;
    gb.wait_metric("gateway_delivered_from_mailbox_total", |v| v == 2);
    assert_eq!(gb.metric("gateway_mailbox_messages"), 0);

    // Deleted once received: a new session finds an empty mailbox.
    let again = bob.authenticate().await;
    assert_eq!(stored(&again.answer), 0);
    drop(mixes);
}
