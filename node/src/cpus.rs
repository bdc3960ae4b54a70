//! Which CPUs a node's shards run on: `--shards N` (the first N) or `--cpus 0,2-3`, one
//! shard pinned to each, never more than the machine has.

use crate::error::NodeError;

fn flag(flag: &'static str, message: String) -> NodeError {
    NodeError::Flag { flag, message }
}

/// The CPUs to run shards on: `cpus` if given, else the first `shards`, else every CPU.
pub fn choose_cpus(shards: Option<usize>, cpus: Option<&[usize]>) -> Result<Vec<usize>, NodeError> {
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(cpus) = cpus {
        if cpus.is_empty() {
            return Err(flag("--cpus", "needs at least one CPU".into()));
        }
        if let Some(bad) = cpus.iter().find(|cpu| **cpu >= online) {
            return Err(flag(
                "--cpus",
                format!("CPU {bad} does not exist (this machine has {online})"),
            ));
        }
        return Ok(cpus.to_vec());
    }
    match shards {
        Some(0) => Err(flag("--shards", "must be at least 1".into())),
        Some(n) if n > online => Err(flag(
            "--shards",
            format!("{n}: this machine has {online} CPUs; shards are pinned one per CPU"),
        )),
        Some(n) => Ok((0..n).collect()),
        None => Ok((0..online).collect()),
    }
}

/// Parses `--cpus 0,2-3`.
pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>, NodeError> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parse = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| flag("--cpus", format!("{s:?} is not a CPU number")))
        };
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (parse(from)?, parse(to)?);
                if from > to {
                    return Err(flag("--cpus", format!("range {part} is backwards")));
                }
                cpus.extend(from..=to);
            }
            None => cpus.push(parse(part)?),
        }
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = cpus.iter().find(|c| !seen.insert(**c)) {
        return Err(flag("--cpus", format!("CPU {dup} is listed twice")));
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_ranges_and_refuse_nonsense() {
        assert_eq!(parse_cpu_list("0,2-4").unwrap(), vec![0, 2, 3, 4]);
        assert_eq!(parse_cpu_list(" 1 ").unwrap(), vec![1]);
        for bad in ["a", "3-1", "1,1", "-2"] {
            let error = parse_cpu_list(bad).unwrap_err().to_string();
            assert!(error.starts_with("--cpus: "), "{bad}: {error}");
        }
    }

    #[test]
    fn shard_counts_beyond_the_machine_are_refused() {
        assert!(choose_cpus(Some(10_000), None).is_err());
        assert!(choose_cpus(Some(0), None).is_err());
        assert!(choose_cpus(None, Some(&[])).is_err());
        assert!(choose_cpus(None, Some(&[10_000])).is_err());
        assert_eq!(choose_cpus(Some(1), None).unwrap(), vec![0]);
        assert_eq!(choose_cpus(None, Some(&[0])).unwrap(), vec![0]);
    }
}
