//! `gateway audit verify|export|checkpoint|prune`: the audit trail from the command line,
//! served by [`crate::audit`].

use std::io::Write;
use std::path::PathBuf;

use super::{load, runtime, AuditCommand};
use crate::audit::{self, AuditQuery};
use crate::config::Settings;
use crate::startup;

pub fn run(command: AuditCommand) -> Result<(), String> {
    match command {
        AuditCommand::Verify { config, from } => verify(config, from),
        AuditCommand::Export {
            config,
            from,
            to,
            kind,
        } => export(
            config,
            AuditQuery {
                from,
                to,
                kind,
                cursor: None,
                limit: Some(vneid_store::AUDIT_LIST_MAX),
            },
        ),
        AuditCommand::Checkpoint { config } => checkpoint(config),
        AuditCommand::Prune { config } => prune(config),
    }
}

/// Runs `work` against the store of the configuration at `config`.
fn with_store<T>(
    config: Option<PathBuf>,
    work: impl AsyncFnOnce(
        &Settings,
        &vneid_store::Database,
        &vneid_tokens::MasterKey,
    ) -> anyhow::Result<T>,
) -> Result<T, String> {
    let settings = load(config.as_ref())?;
    runtime()?
        .block_on(async {
            let (db, master) = startup::store::open_existing(&settings).await?;
            work(&settings, &db, &master).await
        })
        .map_err(|e| format!("{e:#}"))
}

/// "1 event", "2 events".
fn events(n: u64) -> String {
    if n == 1 {
        "1 event".to_owned()
    } else {
        format!("{n} events")
    }
}

/// `gateway audit verify [--from SEQ]`: fails naming the first broken link.
fn verify(config: Option<PathBuf>, from: Option<i64>) -> Result<(), String> {
    let report = with_store(config, async |_, db, master| {
        Ok(audit::verify(db, master, from).await?)
    })?;
    let covered = if report.checked == 0 {
        "no events to check".to_owned()
    } else {
        format!(
            "{} checked, seq {} to {}",
            events(report.checked),
            report.from_seq,
            report.from_seq + i64::try_from(report.checked).unwrap_or(i64::MAX) - 1
        )
    };
    if let Some(broken) = &report.broken {
        return Err(format!(
            "the audit trail was tampered with: {broken} ({covered} before it; the head is at \
             seq {})",
            report.head_seq
        ));
    }
    println!(
        "audit chain intact: {covered} (the head is at seq {}); {} verified",
        report.head_seq,
        if report.checkpoints == 1 {
            "1 signed checkpoint".to_owned()
        } else {
            format!("{} signed checkpoints", report.checkpoints)
        }
    );
    if report.unchained > 0 {
        println!(
            "{} written before the chain existed, not covered by it",
            events(report.unchained)
        );
    }
    Ok(())
}

/// `gateway audit export`: JSON lines, oldest first, every event with its chain fields.
fn export(config: Option<PathBuf>, query: AuditQuery) -> Result<(), String> {
    let mut filter = query.filter(true).map_err(|e| format!("--{e}"))?;
    with_store(config, async |_, db, _| {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        loop {
            let (events, next) = audit::page(db, &filter).await?;
            for event in &events {
                serde_json::to_writer(&mut out, event)?;
                out.write_all(b"\n")?;
            }
            match next {
                Some(cursor) => filter.after_id = cursor.parse().ok(),
                None => break,
            }
        }
        out.flush()?;
        Ok(())
    })
}

/// `gateway audit checkpoint`: signs the chain's head now.
fn checkpoint(config: Option<PathBuf>) -> Result<(), String> {
    let made = with_store(config, async |_, db, master| {
        let now = vneid_core::Clock::now(&vneid_core::SystemClock);
        Ok(audit::checkpoint(db, master, now).await?)
    })?;
    match made {
        Some(c) => println!(
            "checkpoint {} signed: the chain reached seq {} with hash {}",
            c.id, c.claim.through_seq, c.claim.through_hash
        ),
        None => println!("the latest checkpoint already covers the chain's head"),
    }
    Ok(())
}

/// `gateway audit prune`: applies `[audit] retain` now.
fn prune(config: Option<PathBuf>) -> Result<(), String> {
    let pruned = with_store(config, async |settings, db, master| {
        let Some(retain) = settings.audit.retain else {
            anyhow::bail!("audit.retain is \"forever\": nothing is ever pruned");
        };
        let now = vneid_core::Clock::now(&vneid_core::SystemClock);
        Ok(audit::prune(db, master, now, retain).await?)
    })?;
    match pruned {
        Some((c, n)) => println!(
            "{} deleted behind signed checkpoint {} (the chain continues after seq {})",
            events(n),
            c.id,
            c.claim.through_seq
        ),
        None => println!("no audit event is older than audit.retain"),
    }
    Ok(())
}
