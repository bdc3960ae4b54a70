//! The SOCKS5 pair (`--socks5`): a network requester, which opens the TCP connections its
//! allow list permits and relays them over the mixnet, and a SOCKS5 client whose provider it
//! is, which apps (curl) use as a proxy on loopback.
//!
//! Both are clients of their own gateways, initialised like the clients (a funded account
//! each, bandwidth bought at `init`). The requester must run first: the SOCKS5 client only
//! sends to its address, and a request sent before the requester holds its gateway
//! connection would wait in the gateway's mailbox. The requester has no port to probe, so it
//! is ready once its log says [`REQUESTER_READY`]; the SOCKS5 client listens only once it is
//! connected to its gateway, so it is ready once its proxy port accepts.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::command::{accepts, arg, args, command, poll_until};
use super::files::write_file;
use super::setup::{parse_json, ClientInit};
use super::{Member, Network, RequesterInfo, Socks5Info, CLIENT_GRACE};
use crate::plan;
use crate::process::LogWatch;
use crate::Error;

/// The id (and account and log name) of the requester.
const REQUESTER_ID: &str = "requester";
/// The id (and account and log name) of the SOCKS5 client.
const SOCKS5_ID: &str = "socks5";
/// The ids of the pair, requester first.
pub(super) const IDS: [&str; 2] = [REQUESTER_ID, SOCKS5_ID];
/// What the requester logs once it holds its gateway connection (its readiness).
pub const REQUESTER_READY: &str = "network requester ready";
/// What the requester logs once SIGHUP made it read its allow list again.
pub const REQUESTER_RELOADED: &str = "allow list reloaded";
/// The requester's allow-list file, in the directory its `init` made.
const ALLOW_LIST: &str = "allowed.list";

impl Network {
    /// `init` for the requester, then for the SOCKS5 client (which needs the requester's
    /// address); then runs both, the requester first, each until it is ready.
    pub(super) async fn start_socks5(&mut self, deadline: Instant) -> Result<(), Error> {
        let [requester_gateway, socks5_gateway] =
            plan::socks5_gateways(self.options.clients, self.options.gateways);
        let home = arg(&self.home);
        let timing = self.options.socks5_timing_args();

        let program = self.binaries.network_requester.clone();
        let (answer, log) = self
            .init_pair_member(&program, REQUESTER_ID, requester_gateway, &[], deadline)
            .await?;
        let name = format!("network-requester {REQUESTER_ID}");
        let dir = answer.dir.map_or_else(
            || self.home.join("clients").join(REQUESTER_ID),
            PathBuf::from,
        );
        let allow_list = dir.join(ALLOW_LIST);
        write_file(&allow_list, &allow_list_text(&self.options.allow_entries()))?;
        let run_args = [
            args(&["run", "--home", &home, "--id", REQUESTER_ID]),
            args(&["--allow-list", &arg(&allow_list)]),
            timing.clone(),
        ]
        .concat();
        let requester_address = answer.address;
        self.requester = Some(Member {
            info: RequesterInfo {
                id: REQUESTER_ID.to_owned(),
                address: requester_address.clone(),
                gateway: requester_gateway,
                allow_list,
            },
            name,
            program,
            run_args,
            log,
            process: None,
        });

        let program = self.binaries.socks5_client.clone();
        let provider = args(&["--provider", &requester_address]);
        let (answer, log) = self
            .init_pair_member(&program, SOCKS5_ID, socks5_gateway, &provider, deadline)
            .await?;
        let listen = self.ports.next()?;
        let run_args = [
            args(&["run", "--home", &home, "--id", SOCKS5_ID]),
            args(&["--listen", &listen.to_string()]),
            provider,
            timing,
        ]
        .concat();
        self.socks5 = Some(Member {
            info: Socks5Info {
                id: SOCKS5_ID.to_owned(),
                address: answer.address,
                gateway: socks5_gateway,
                listen,
            },
            name: format!("socks5-client {SOCKS5_ID}"),
            program,
            run_args,
            log,
            process: None,
        });

        self.spawn_requester(deadline).await?;
        let rust_log = self.options.log.clone();
        let socks5 = self.socks5_mut()?;
        socks5.spawn(&rust_log)?;
        let what = format!("{} to listen on {listen}", socks5.name);
        poll_until(&what, deadline, socks5, || async move {
            accepts(listen).await.then_some(())
        })
        .await
    }

    /// `init` of one of the pair at gateway `g` with its own account, `extra` flags added;
    /// checks that it took that gateway. Returns the answer and the log.
    async fn init_pair_member(
        &self,
        program: &Path,
        id: &str,
        g: usize,
        extra: &[String],
        deadline: Instant,
    ) -> Result<(ClientInit, PathBuf), Error> {
        let gateway = self
            .gateways
            .get(g)
            .ok_or_else(|| Error::network(format!("no gateway {g}")))?;
        let gateway_key = &gateway.info.identity_key;
        let key = self.path.join("accounts").join(format!("{id}.key"));
        let init = [
            args(&["init", "--home", &arg(&self.home), "--id", id]),
            self.validator_flags(),
            args(&["--gateway", gateway_key]),
            args(&["--account-key", &arg(&key)]),
            args(&["--bandwidth", &self.options.bandwidth.to_string()]),
            extra.to_vec(),
        ]
        .concat();
        let binary = program
            .file_name()
            .map_or_else(|| arg(program), |n| n.to_string_lossy().into_owned());
        let name = format!("{binary} {id}");
        let log = self.log(id);
        let out = command(&name, program, &init, &log, &self.options.log, deadline).await?;
        let what = format!("{binary} init");
        let answer: ClientInit = parse_json(&name, &what, &out, &log)?;
        if answer.gateway != *gateway_key {
            let message = format!(
                "{name}: `{binary} init` chose gateway {} instead of {gateway_key}",
                answer.gateway
            );
            return Err(Error::process(message).with_log(&log));
        }
        Ok((answer, log))
    }

    /// Runs the requester and waits until its log (from now on: a restarted requester
    /// appends to the old run's log) says [`REQUESTER_READY`].
    async fn spawn_requester(&mut self, deadline: Instant) -> Result<(), Error> {
        let rust_log = self.options.log.clone();
        let requester = self.requester_mut()?;
        let mut ready = LogWatch::from_end(&requester.log, REQUESTER_READY);
        requester.spawn(&rust_log)?;
        let what = format!("{} to log {REQUESTER_READY:?}", requester.name);
        poll_until(&what, deadline, requester, || {
            let seen = ready.seen();
            async move { seen.then_some(()) }
        })
        .await
    }

    /// Stops the network requester (SIGTERM, then SIGKILL after a grace period) and waits
    /// until it has exited.
    pub async fn stop_requester(&mut self) -> Result<(), Error> {
        let requester = self.requester_mut()?;
        if let Some(mut p) = requester.process.take() {
            p.stop(CLIENT_GRACE).await;
        }
        Ok(())
    }

    /// Starts the stopped network requester again with the same id, files and allow list;
    /// returns once it logs that it is ready.
    pub async fn start_requester(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + self.options.startup_timeout;
        let requester = self.requester_mut()?;
        if requester.process.is_some() {
            return Err(Error::network(format!("{} is running", requester.name)));
        }
        self.spawn_requester(deadline).await
    }

    /// Rewrites the requester's allow list with `entries`, sends it SIGHUP and returns once
    /// its log says it reloaded.
    pub async fn set_allow_list(&mut self, entries: &[String]) -> Result<(), Error> {
        let deadline = Instant::now() + self.options.startup_timeout;
        let requester = self.requester_mut()?;
        let file = requester.info.allow_list.clone();
        std::fs::write(&file, allow_list_text(entries))
            .map_err(|e| Error::network(format!("writing {}: {e}", file.display())))?;
        let mut reloaded = LogWatch::from_end(&requester.log, REQUESTER_RELOADED);
        match requester.process.as_ref() {
            Some(p) => p.hang_up(),
            None => return Err(Error::network(format!("{} is not running", requester.name))),
        }
        let what = format!("{} to log {REQUESTER_RELOADED:?}", requester.name);
        poll_until(&what, deadline, requester, || {
            let seen = reloaded.seen();
            async move { seen.then_some(()) }
        })
        .await
    }

    fn requester_mut(&mut self) -> Result<&mut Member<RequesterInfo>, Error> {
        self.requester
            .as_mut()
            .ok_or_else(|| Error::network("there is no network requester (no socks5)".into()))
    }

    fn socks5_mut(&mut self) -> Result<&mut Member<Socks5Info>, Error> {
        self.socks5
            .as_mut()
            .ok_or_else(|| Error::network("there is no SOCKS5 client (no socks5)".into()))
    }
}

/// The allow-list file: a comment saying where it came from, then one entry per line.
fn allow_list_text(entries: &[String]) -> String {
    let mut text = String::from("# written by bench localnet (--allow); deny by default\n");
    for entry in entries {
        text.push_str(entry);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_list_has_one_entry_per_line_after_a_comment() {
        let entries = ["127.0.0.1".to_owned(), "*.example.com".to_owned()];
        assert_eq!(
            allow_list_text(&entries),
            "# written by bench localnet (--allow); deny by default\n127.0.0.1\n*.example.com\n"
        );
        let empty = allow_list_text(&[]);
        assert!(empty.lines().all(|l| l.starts_with('#')));
    }
}
