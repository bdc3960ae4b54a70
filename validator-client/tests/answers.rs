//! What the client does with answers from validators it cannot trust: bodies larger than the
//! cap are refused unread, verification keys count only when enough validators agree, and a
//! genesis other than the one the operator named is never pinned.
//! Each "validator" here is a plain HTTP server on loopback that serves fixed answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use validator_client::{
    agreed_key_set, load_or_fetch_genesis, ClientError, PinError, ValidatorClient, MAX_ANSWER_BYTES,
};
use validator_core::api;
use validator_core::coconut::ttp_keygen;
use validator_core::credential::{parameters, VerificationKeySet};

/// How a fake validator answers.
#[derive(Clone)]
enum Answer {
    /// 200 with this JSON body.
    Json(String),
    /// 200 with this TOML body.
    Toml(String),
    /// 200 declaring `len` bytes, then sending that many zeros.
    Declared(usize),
    /// 200, chunked, with `len` zeros in 64 KiB chunks and no declared length.
    Chunked(usize),
}

/// Serves `answers` by path on a loopback port until the runtime ends.
async fn fake_validator(answers: BTreeMap<&'static str, Answer>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, answers.clone()));
        }
    });
    addr
}

/// Reads one request head and writes the answer for its path (or 404).
async fn answer(mut stream: TcpStream, answers: BTreeMap<&'static str, Answer>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let zeros = vec![0u8; 64 << 10];
    let (status, body_len, chunked) = match answers.get(path) {
        Some(Answer::Json(body) | Answer::Toml(body)) => {
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            return;
        }
        Some(Answer::Declared(len)) => ("200 OK", *len, false),
        Some(Answer::Chunked(len)) => ("200 OK", *len, true),
        None => ("404 Not Found", 0, false),
    };
    let framing = if chunked {
        "transfer-encoding: chunked".to_owned()
    } else {
        format!("content-length: {body_len}")
    };
    let reply = format!("HTTP/1.1 {status}\r\n{framing}\r\nconnection: close\r\n\r\n");
    if stream.write_all(reply.as_bytes()).await.is_err() {
        return;
    }
    // The reader may hang up once it has seen enough: a failed write ends the answer.
    let mut left = body_len;
    while left > 0 {
        let n = left.min(zeros.len());
        let written = if chunked {
            let chunk = [format!("{n:x}\r\n").as_bytes(), &zeros[..n], b"\r\n"].concat();
            stream.write_all(&chunk).await
        } else {
            stream.write_all(&zeros[..n]).await
        };
        if written.is_err() {
            return;
        }
        left -= n;
    }
    if chunked {
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
}

fn client(addr: SocketAddr) -> ValidatorClient {
    ValidatorClient::new(&format!("http://{addr}")).unwrap()
}

#[tokio::test]
async fn an_answer_larger_than_the_cap_is_refused() {
    let too_much = MAX_ANSWER_BYTES + 1;
    for answer in [Answer::Declared(too_much), Answer::Chunked(too_much)] {
        let addr = fake_validator(BTreeMap::from([(api::STATUS, answer)])).await;
        match client(addr).status().await {
            Err(ClientError::TooLarge { limit, .. }) => assert_eq!(limit, MAX_ANSWER_BYTES),
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }
    // At the cap exactly, the body is read (and then fails to decode as a status).
    let addr = fake_validator(BTreeMap::from([(
        api::STATUS,
        Answer::Chunked(MAX_ANSWER_BYTES),
    )]))
    .await;
    match client(addr).status().await {
        Err(ClientError::Decode { .. }) => {}
        other => panic!("expected a decode error, got {other:?}"),
    }
}

fn key_set(seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let pairs = ttp_keygen(&parameters(), 2, 3, &mut rng).unwrap();
    let set = VerificationKeySet::from_key_pairs(2, &pairs).unwrap();
    serde_json::to_string(&set).unwrap()
}

#[tokio::test]
async fn verification_keys_count_only_when_enough_validators_agree() {
    let (honest, other) = (key_set(1), key_set(2));
    let mut validators = Vec::new();
    for keys in [&honest, &honest, &other] {
        let answers = BTreeMap::from([(api::VERIFICATION_KEYS, Answer::Json(keys.clone()))]);
        validators.push(client(fake_validator(answers).await));
    }
    let agreed = agreed_key_set(&validators, 2).await.unwrap();
    assert_eq!(serde_json::to_string(&agreed).unwrap(), honest);
    match agreed_key_set(&validators, 3).await {
        Err(ClientError::NoAgreedKeys {
            needed,
            asked,
            errors,
        }) => {
            assert_eq!((needed, asked), (3, 3));
            assert!(errors.contains("2 different key sets"), "{errors}");
        }
        other => panic!("expected NoAgreedKeys, got {other:?}"),
    }
    // A validator that serves garbage or nothing does not count towards agreement.
    let broken = client(
        fake_validator(BTreeMap::from([(
            api::VERIFICATION_KEYS,
            Answer::Json("{\"not\": \"keys\"}".into()),
        )]))
        .await,
    );
    let silent = client(fake_validator(BTreeMap::new()).await);
    let mixed = vec![validators[0].clone(), broken, silent];
    assert!(matches!(
        agreed_key_set(&mixed, 2).await,
        Err(ClientError::NoAgreedKeys { .. })
    ));
    assert!(agreed_key_set(&mixed, 1).await.is_ok());
}

#[tokio::test]
async fn a_genesis_other_than_the_named_one_is_refused_and_not_pinned() {
    let genesis = validator_core::test_util::genesis(1, 1000, 1, 1);
    let served = genesis.to_toml_string().unwrap();
    let addr = fake_validator(BTreeMap::from([(api::GENESIS, Answer::Toml(served))])).await;
    let validators = [format!("http://{addr}")];
    let dir = tempfile::tempdir().unwrap();
    let pin = dir.path().join("genesis.toml");

    let mut other = genesis.genesis_hash();
    other.0[0] ^= 1;
    match load_or_fetch_genesis(&validators, &pin, Some(other)).await {
        Err(PinError::WrongChain { expected, got, .. }) => {
            assert_eq!((expected, got), (other, genesis.genesis_hash()));
        }
        other => panic!("expected WrongChain, got {other:?}"),
    }
    assert!(!pin.exists(), "a refused genesis is not pinned");

    let fetched = load_or_fetch_genesis(&validators, &pin, Some(genesis.genesis_hash()))
        .await
        .unwrap();
    assert_eq!(fetched.genesis_hash(), genesis.genesis_hash());
    assert!(pin.exists(), "the named genesis is pinned");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "written through a temporary file that is renamed over the pin"
    );
    // Once pinned, the file is checked against the named hash too.
    assert!(matches!(
        load_or_fetch_genesis(&validators, &pin, Some(other)).await,
        Err(PinError::WrongChain { .. })
    ));
    assert!(load_or_fetch_genesis(&validators, &pin, None).await.is_ok());
}
