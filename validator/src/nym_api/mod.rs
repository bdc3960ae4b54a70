//! The subset of Nym's directory API (nym-api) that Nym's own clients read, answered from
//! this chain's threshold-signed topology, so `nym-sdk`, `nym-client` and
//! `nym-socks5-client` can find our mixnodes and gateways with their `--nym-apis` /
//! `nymApiUrl` pointed at a validator.
//!
//! * [`model`]: the JSON documents, field for field as Nym's clients parse them;
//! * [`directory`]: pure: a verified topology and the chain's schedules in, those documents
//!   out. The HTTP routes are `crate::service::nym_api`.
//!
//! # What a Nym client (nym-sdk 1.21) calls, and what it relies on
//! Checked against the client's source (`nym-client-core`, `nym-validator-client`,
//! `nym-api-requests`, `nym-topology` 1.22):
//!
//! | call | when | our answer |
//! |---|---|---|
//! | `GET /v1/epoch/key-rotation-info` | every start; fatal if it fails | the epoch and rotation schedules |
//! | `GET /v1/nym-nodes/rewarded-set` | start, then every topology refresh (5 min) | the layers and gateways of the current epoch's topology |
//! | `GET /v2/unstable/nym-nodes/skimmed/mixnodes/active` | with the rewarded set | the mixnodes |
//! | `GET /v2/unstable/nym-nodes/skimmed/entry-gateways` | with the rewarded set, and when registering at a new gateway | the gateways |
//! | `GET /v2/unstable/nym-nodes/skimmed` | instead of the two above, with extended topology | every node |
//!
//! * **Routing comes from the rewarded set only**: layer `n` is the ids in `layer{n}`; a
//!   node's `role` must parse but is not used. A client needs one node per layer and one
//!   gateway id.
//! * **Node ids** are `u32`s of our choosing, stable across epochs: the first four bytes of
//!   the identity key (top bit clear), the next free id on a collision.
//! * **Pages**: every node is on page 0 and `pagination.total` is the node count; the client
//!   asks for further pages while it has fewer than `total`, so a wrong total makes it loop.
//!   A later page is empty. The client may ask for bincode (`output=bincode`); it decodes by
//!   the answer's content type, so JSON is always fine.
//! * **Consistency**: the node lists' `metadata` (`absolute_epoch_id`, `rotation_id`,
//!   `status`) must agree with each other and with the rewarded set's `epoch_id`, or the
//!   client drops the topology. Everything here comes from one epoch's topology.
//! * **Keys** are base58 strings; addresses are IP literals (a host name would be resolved by
//!   the client's own DNS-over-TLS resolver, away from loopback); a gateway's `entry` holds
//!   its websocket port (`ws://` URL) or TLS port and host name (`wss://`).
//! * **Performance** is a decimal string in `[0, 1]`; clients drop nodes below 0.5 by default.
//!   Every node in a signed topology was selected by the chain, so each reports `"1"`.
//! * **Key rotation**: a Nym client derives a packet's key-rotation byte from the node
//!   lists' `rotation_id`: 0 unknown, odd 1, even 2. Our rotation ids are the chain's
//!   ([`validator_core::rotation`]), whose parity rule is the same; rotation 0 comes out as
//!   "unknown", which our nodes open with whichever live key fits. Without a
//!   `[key_rotation]` in the genesis every id is 0 and the rotation is reported as
//!   [`directory::STATIC_KEYS_VALIDITY_EPOCHS`] epochs long.
//!   `key-rotation-info` gives the rotation length in epochs (`validity_epochs`), the epoch
//!   length and the current epoch's start; the client uses them to age its reply SURBs.
//! * **Times**: `refreshed_at` and `current_epoch_start` are RFC 3339 (a malformed time would
//!   silently read as 1970 on the client).

pub mod directory;
pub mod model;
