//! The process's open-file limit, fitted to the connections it serves.
//! systemd's default soft limit is 1024, far below what `max_connections`
//! may ask; running out of descriptors must never be how the cap is met.

/// Descriptors kept for everything but the REST connections: the store,
/// the models, the camera and relay, gRPC and site links, logs.
const RESERVED: u64 = 256;

/// Raises the soft open-file limit (up to the hard one) to fit `wanted`
/// connections, and returns how many fit, with a warning when fewer.
pub fn connections_that_fit(wanted: usize) -> usize {
    let needed = wanted as u64 + RESERVED;
    let Some((soft, hard)) = open_file_limit() else {
        return wanted;
    };
    let soft = match soft < needed && set_soft_open_file_limit(needed.min(hard), hard) {
        true => needed.min(hard),
        false => soft,
    };
    let fit = usize::try_from(soft.saturating_sub(RESERVED))
        .unwrap_or(usize::MAX)
        .max(1);
    if fit < wanted {
        log::warn!(
            "the open-file limit is {soft} (hard {hard}): serving at most {fit} connections, \
             not server.max_connections = {wanted}; raise LimitNOFILE"
        );
    }
    fit.min(wanted)
}

fn open_file_limit() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (read == 0).then_some((limit.rlim_cur, limit.rlim_max))
}

fn set_soft_open_file_limit(soft: u64, hard: u64) -> bool {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit only reads the struct it is given.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 }
}
