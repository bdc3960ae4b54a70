use super::*;
use crate::test_util::{account_key, genesis, identity, validator_key};

fn sample_toml() -> String {
    format!(
        r#"
# a comment
chain_id = "devnet-1"
genesis_time_unix_ms = 1767225600000
epoch_length_ms = 3600000
threshold = 2
minimum_bond = 100

[active_set]
mixnodes = 9
gateways = 3

[[accounts]]
public_key = "{a0}"
balance = 1000

[[accounts]]
public_key = "{a1}"
balance = 5

[[validators]]
identity_key = "{v0}"
api_url = "http://127.0.0.1:8080"
p2p_address = "127.0.0.1:27000"

[[validators]]
identity_key = "{v1}"
api_url = "https://validator-2.example:8443/api"
p2p_address = "127.0.0.1:27001"
voting_power = 2
"#,
        a0 = identity(&account_key(0)),
        a1 = identity(&account_key(1)),
        v0 = identity(&validator_key(0)),
        v1 = identity(&validator_key(1)),
    )
}

fn error_of(text: &str) -> String {
    Genesis::from_toml_str(text).unwrap_err().to_string()
}

fn field_of(text: &str) -> String {
    match Genesis::from_toml_str(text) {
        Err(GenesisError::Field { field, .. }) => field,
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn parses_sample() {
    let g = Genesis::from_toml_str(&sample_toml()).unwrap();
    assert_eq!(g.chain_id, "devnet-1");
    assert_eq!(g.threshold(), 2);
    assert_eq!(g.active_set.mixnodes, 9);
    assert_eq!(g.accounts.len(), 2);
    assert_eq!(g.accounts[0].balance, 1000);
    assert_eq!(g.validators[1].identity_key, identity(&validator_key(1)));
    assert_eq!(g.validator_keys().len(), 2);
    assert_eq!(
        g.validators[0].voting_power, 1,
        "voting power defaults to 1"
    );
    assert_eq!(g.validators[1].voting_power, 2);
    assert_eq!(g.validators[1].p2p_address.port(), 27001);
}

#[test]
fn inconsistent_validator_sets_are_refused() {
    let t = sample_toml();
    let same_p2p = t.replace("127.0.0.1:27001", "127.0.0.1:27000");
    assert_eq!(field_of(&same_p2p), "validators[1].p2p_address");
    assert!(error_of(&same_p2p).contains("already another validator's address"));
    assert_eq!(
        field_of(&t.replace("127.0.0.1:27001", "0.0.0.0:27001")),
        "validators[1].p2p_address"
    );
    assert_eq!(
        field_of(&t.replace("127.0.0.1:27001", "127.0.0.1:0")),
        "validators[1].p2p_address"
    );
    assert_eq!(
        field_of(&t.replace("voting_power = 2", "voting_power = 0")),
        "validators[1].voting_power"
    );
    // TOML integers stop at i64::MAX, so the overflow is checked on an in-memory genesis.
    let mut g = crate::test_util::genesis(1, 10, 3, 2);
    for v in &mut g.validators {
        v.voting_power = u64::MAX / 2;
    }
    match g.validate() {
        Err(GenesisError::Field { field, .. }) => assert_eq!(field, "validators[2].voting_power"),
        other => panic!("expected an overflow error, got {other:?}"),
    }
    let missing = t.replace("p2p_address = \"127.0.0.1:27000\"\n", "");
    assert!(
        error_of(&missing).contains("p2p_address"),
        "{}",
        error_of(&missing)
    );
}

#[test]
fn toml_roundtrip_preserves_value_and_hash() {
    let g = Genesis::from_toml_str(&sample_toml()).unwrap();
    let again = Genesis::from_toml_str(&g.to_toml_string().unwrap()).unwrap();
    assert_eq!(again, g);
    assert_eq!(again.genesis_hash(), g.genesis_hash());
}

#[test]
fn hash_ignores_formatting_and_entry_order_but_not_values() {
    let text = sample_toml();
    let g = Genesis::from_toml_str(&text).unwrap();
    let mut swapped = g.clone();
    swapped.accounts.reverse();
    swapped.validators.reverse();
    assert_eq!(swapped.genesis_hash(), g.genesis_hash());
    let reformatted = text.replace("# a comment", "").replace(" = ", "=");
    assert_eq!(
        Genesis::from_toml_str(&reformatted).unwrap().genesis_hash(),
        g.genesis_hash()
    );

    let mut changed = g.clone();
    changed.accounts[1].balance += 1;
    assert_ne!(changed.genesis_hash(), g.genesis_hash());
    let mut changed = g.clone();
    changed.chain_id.push('x');
    assert_ne!(changed.genesis_hash(), g.genesis_hash());
    let mut changed = g.clone();
    changed.threshold = 1;
    assert_ne!(changed.genesis_hash(), g.genesis_hash());
}

#[test]
fn missing_field_is_named() {
    let text = sample_toml().replace("threshold = 2\n", "");
    let err = Genesis::from_toml_str(&text).unwrap_err();
    assert!(matches!(err, GenesisError::Toml { .. }), "{err:?}");
    assert!(err.to_string().contains("threshold"), "{err}");
}

#[test]
fn wrong_type_and_unknown_field_are_named() {
    let text = sample_toml().replace("minimum_bond = 100", "minimum_bond = \"lots\"");
    let err = Genesis::from_toml_str(&text).unwrap_err().to_string();
    assert!(err.contains("minimum_bond"), "{err}");

    let text = sample_toml().replace("threshold = 2", "threshold = 2\nthreshhold = 3");
    let err = Genesis::from_toml_str(&text).unwrap_err().to_string();
    assert!(err.contains("threshhold"), "{err}");

    let text = sample_toml().replace("balance = 5", "balance = -5");
    let err = Genesis::from_toml_str(&text).unwrap_err().to_string();
    assert!(err.contains("balance"), "{err}");
}

#[test]
fn threshold_out_of_range() {
    assert_eq!(
        field_of(&sample_toml().replace("threshold = 2", "threshold = 0")),
        "threshold"
    );
    let err = Genesis::from_toml_str(&sample_toml().replace("threshold = 2", "threshold = 3"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("threshold") && err.contains("between 1 and 2"),
        "{err}"
    );
}

#[test]
fn bad_key_names_the_entry() {
    let bad = sample_toml().replace(&identity(&validator_key(1)).to_string(), "not-base58-0OIl");
    assert_eq!(field_of(&bad), "validators[1].identity_key");

    let short = bs58::encode([9u8; 16]).into_string();
    let bad = sample_toml().replace(&identity(&account_key(1)).to_string(), &short);
    let err = Genesis::from_toml_str(&bad).unwrap_err();
    assert_eq!(err.field(), Some("accounts[1].public_key"));
    assert!(err.to_string().contains("expected 32 bytes"), "{err}");
}

#[test]
fn duplicate_keys_are_refused() {
    let dup = sample_toml().replace(
        &identity(&account_key(1)).to_string(),
        &identity(&account_key(0)).to_string(),
    );
    assert_eq!(field_of(&dup), "accounts[1].public_key");
    let dup = sample_toml().replace(
        &identity(&validator_key(1)).to_string(),
        &identity(&validator_key(0)).to_string(),
    );
    assert_eq!(field_of(&dup), "validators[1].identity_key");
}

#[test]
fn other_semantic_rules() {
    let t = sample_toml();
    assert_eq!(
        field_of(&t.replace("mixnodes = 9", "mixnodes = 2")),
        "active_set.mixnodes"
    );
    assert_eq!(
        field_of(&t.replace("gateways = 3", "gateways = 0")),
        "active_set.gateways"
    );
    assert_eq!(
        field_of(&t.replace("epoch_length_ms = 3600000", "epoch_length_ms = 0")),
        "epoch_length_ms"
    );
    assert_eq!(
        field_of(&t.replace("minimum_bond = 100", "minimum_bond = 0")),
        "minimum_bond"
    );
    assert_eq!(
        field_of(&t.replace("\"devnet-1\"", "\"dev net\"")),
        "chain_id"
    );
    assert_eq!(
        field_of(&t.replace("http://127.0.0.1:8080", "ftp://x")),
        "validators[0].api_url"
    );
    let t3 = format!(
        "{t}\n[[accounts]]\npublic_key = \"{}\"\nbalance = {}\n",
        identity(&account_key(2)),
        i64::MAX
    )
    .replace("balance = 5", &format!("balance = {}", i64::MAX));
    assert_eq!(field_of(&t3), "accounts[2].balance");
    let no_validators = format!(
        "validators = []\n{}",
        t.split("[[validators]]").next().unwrap()
    );
    assert_eq!(field_of(&no_validators), "validators");
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("genesis.toml");
    std::fs::write(&path, sample_toml()).unwrap();
    assert_eq!(Genesis::load(&path).unwrap().chain_id, "devnet-1");

    std::fs::write(
        &path,
        sample_toml().replace("threshold = 2", "threshold = 7"),
    )
    .unwrap();
    let err = Genesis::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("genesis.toml") && err.contains("`threshold`"),
        "{err}"
    );

    let missing = dir.path().join("nope.toml");
    let err = Genesis::load(&missing).unwrap_err();
    assert!(matches!(err, GenesisError::Io { .. }));
    assert!(err.to_string().contains("nope.toml"), "{err}");
}

#[test]
fn in_memory_genesis_validates() {
    let mut g = genesis(2, 10, 3, 2);
    assert!(g.validate().is_ok());
    g.threshold = 4;
    assert_eq!(g.validate().unwrap_err().field(), Some("threshold"));
}

#[test]
fn key_rotation_defaults_round_trips_and_is_part_of_the_hash() {
    let plain = Genesis::from_toml_str(&sample_toml()).unwrap();
    assert_eq!(plain.key_rotation, None, "no section: static keys");
    assert!(plain.rotation_schedule().is_none());

    let defaults = Genesis::from_toml_str(&format!("{}\n[key_rotation]\n", sample_toml())).unwrap();
    assert_eq!(
        defaults.key_rotation,
        Some(KeyRotationParams {
            length_ms: crate::rotation::DEFAULT_ROTATION_MS,
            overlap_ms: crate::rotation::DEFAULT_OVERLAP_MS,
        })
    );
    assert_ne!(defaults.genesis_hash(), plain.genesis_hash());
    let back = Genesis::from_toml_str(&defaults.to_toml_string().unwrap()).unwrap();
    assert_eq!(back, defaults);
    assert_eq!(back.genesis_hash(), defaults.genesis_hash());

    let shorter = Genesis::from_toml_str(&format!(
        "{}\n[key_rotation]\nlength_ms = 7200000\noverlap_ms = 60000\n",
        sample_toml()
    ))
    .unwrap();
    assert_ne!(shorter.genesis_hash(), defaults.genesis_hash());

    // Not whole epochs (the sample's are an hour): refused, naming the field.
    let bad = format!("{}\n[key_rotation]\nlength_ms = 5400000\n", sample_toml());
    assert_eq!(field_of(&bad), "key_rotation.length_ms");
    let bad = format!("{}\n[key_rotation]\noverlap_ms = 0\n", sample_toml());
    assert_eq!(field_of(&bad), "key_rotation.overlap_ms");
    let bad = format!("{}\n[key_rotation]\nlenght_ms = 1\n", sample_toml());
    assert!(error_of(&bad).contains("lenght_ms"));
}
