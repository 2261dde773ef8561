//! Linking on login and importing, against a real (in-memory SQLite) database: the store's SQL,
//! the directory's rules and the audit trail together.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, TimeZone as _, Utc};
use vneid_directory::import::{import, ImportOptions, ImportReport};
use vneid_directory::link::{link_on_login, ConflictReason, LinkOutcome, LoginFacts};
use vneid_directory::parse::parse_csv;
use vneid_store::{AccountLink, AuditEvent, AuditFilter, Database, LoginUpsert};
use vneid_tokens::MasterKey;

const HEADER: &str =
    "username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email\r\n";

/// A unit's spreadsheet: one staff member ready (cuong.lv), a number held twice (binh.tt and
/// binh.tt2), a post-office clerk (dung.pt), a citizen (an.nv), a clerk linked by an admin to
/// somebody else (yen.ht), a missing and an invalid number.
const DIRECTORY: &str = "cuong.lv,Lê Văn Cường,UBND-P01,UBND phường Hải Châu 1,staff,052085007890,10/06/1985,0905000001,cuong@example.gov.vn\r\n\
an.nv,Nguyễn Văn An,CONGDAN,Công dân,citizen,052090000123,1990-01-15,,\r\n\
binh.tt,Trần Thị Bình,UBND-P01,UBND phường Hải Châu 1,staff,052195004567,,,\r\n\
binh.tt2,\"Trần Thị Bình, bản sao\",UBND-P02,UBND phường Thạch Thang,staff,052195004567,,,\r\n\
dung.pt,Phạm Thị Dung,BD-MOTCUA,Bưu điện - Bộ phận Một cửa,staff,052178001122,,,\r\n\
yen.ht,Hoàng Thị Yến,UBND-P02,UBND phường Thạch Thang,staff,052188001234,,,\r\n\
thieu.so,Hồ Thị Thiếu,UBND-P02,UBND phường Thạch Thang,staff,,,,\r\n\
sai.so,Võ Văn Sai,UBND-P02,UBND phường Thạch Thang,staff,05208500789,,,\r\n";

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 7, 1, 2, 0, 0).unwrap()
}

struct Fixture {
    db: Database,
    master: MasterKey,
}

async fn empty() -> Fixture {
    let db = Database::connect("sqlite::memory:", 1).await.unwrap();
    db.migrate().await.unwrap();
    Fixture {
        db,
        master: MasterKey::generate().unwrap(),
    }
}

async fn with_directory() -> Fixture {
    let f = empty().await;
    let report = f
        .import(&format!("{HEADER}{DIRECTORY}"), ImportOptions::default())
        .await;
    assert!(report.written && report.rejected.is_empty(), "{report:?}");
    f
}

/// A person who logged in: what the gateway computes from the upstream's userinfo.
struct Login {
    person_id: String,
    hash: String,
}

impl Fixture {
    async fn import(&self, csv: &str, options: ImportOptions) -> ImportReport {
        let parsed = parse_csv(csv.as_bytes()).unwrap();
        import(&self.db, &self.master, &parsed, options, at())
            .await
            .unwrap()
    }

    /// `upsert_person_on_login` as the gateway's callback does it.
    async fn person(&self, subject: &str, personal_id: &str, level: u8, login_idp: &str) -> Login {
        let hash = self.master.personal_id_hash(personal_id);
        let person = self
            .db
            .upsert_person_on_login(&LoginUpsert {
                upstream: "dvcqg".into(),
                subject: subject.into(),
                personal_id_hash: Some(hash.clone()),
                personal_id_sealed: Some(self.master.seal_personal_id(personal_id).unwrap()),
                name: Some("Người Đăng Nhập".into()),
                birthdate: None,
                login_idp: Some(login_idp.into()),
                level,
                at: at(),
                account_type: vneid_core::AccountType::Citizen,
                organisation_key: None,
                organisation_sealed: None,
            })
            .await
            .unwrap();
        Login {
            person_id: person.id,
            hash,
        }
    }

    async fn link(&self, who: &Login, level: u8, login_idp: &str) -> LinkOutcome {
        link_on_login(
            &self.db,
            &LoginFacts {
                person_id: &who.person_id,
                personal_id_hash: &who.hash,
                level,
                login_idp: Some(login_idp),
                vneid_login_idp: "BCA",
                request_id: Some("req-link"),
                at: at(),
            },
        )
        .await
        .unwrap()
    }

    async fn audit(&self, kind: &str) -> Vec<AuditEvent> {
        self.db
            .list_audit(&AuditFilter {
                kind: Some(kind.into()),
                ..AuditFilter::default()
            })
            .await
            .unwrap()
    }

    async fn conflict_of(&self, who: &Login) -> Option<(String, Vec<String>)> {
        self.db
            .list_link_conflicts(100)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.person_id == who.person_id)
            .map(|c| (c.reason, c.usernames))
    }
}

fn conflict(reason: ConflictReason, usernames: &[&str]) -> LinkOutcome {
    LinkOutcome::Conflict {
        reason,
        usernames: usernames.iter().map(|u| (*u).to_owned()).collect(),
    }
}

#[tokio::test]
async fn one_valid_match_through_vneid_level_2_links_with_an_audit_event() {
    let f = with_directory().await;
    let cuong = f.person("sub-cuong", "052085007890", 2, "BCA").await;
    assert_eq!(
        f.link(&cuong, 2, "BCA").await,
        LinkOutcome::Linked {
            username: "cuong.lv".into()
        }
    );
    let link =
        f.db.account_link_by_username("cuong.lv")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        link,
        AccountLink {
            username: "cuong.lv".into(),
            person_id: cuong.person_id.clone(),
            level: 2,
            login_idp: Some("BCA".into()),
            via: "login".into(),
            created_at: at(),
        }
    );
    let (by_person, account) =
        f.db.account_link_by_person(&cuong.person_id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(by_person, link);
    assert_eq!(account.unit_code, "UBND-P01");

    let events = f.audit("account_linked").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.outcome, "success");
    assert_eq!(e.person_id.as_deref(), Some(cuong.person_id.as_str()));
    assert_eq!(e.level, Some(2));
    assert_eq!(e.login_idp.as_deref(), Some("BCA"));
    assert_eq!(e.request_id.as_deref(), Some("req-link"));
    assert_eq!(e.at, at());
    assert_eq!(
        e.detail,
        serde_json::json!({"username": "cuong.lv", "unit_code": "UBND-P01", "kind": "staff", "via": "login"})
    );
    // The audit trail carries no personal ID number.
    assert!(!e.detail.to_string().contains("052085007890"));
    assert_eq!(f.conflict_of(&cuong).await, None);
}

#[tokio::test]
async fn a_person_already_linked_stays_as_they_are() {
    let f = with_directory().await;
    let cuong = f.person("sub-cuong", "052085007890", 2, "BCA").await;
    assert!(matches!(
        f.link(&cuong, 2, "BCA").await,
        LinkOutcome::Linked { .. }
    ));
    let already = LinkOutcome::AlreadyLinked {
        username: "cuong.lv".into(),
    };
    assert_eq!(f.link(&cuong, 2, "BCA").await, already);
    // Even a later login at level 1 keeps the link (whether the account is released in a token
    // is `account_reachable`'s business), and writes nothing new.
    assert_eq!(f.link(&cuong, 1, "BCA").await, already);
    assert_eq!(f.audit("account_linked").await.len(), 1);
    assert!(f.audit("account_link").await.is_empty());
    assert_eq!(f.conflict_of(&cuong).await, None);
}

#[tokio::test]
async fn no_account_with_the_number_links_nothing_and_records_nothing() {
    let f = with_directory().await;
    let stranger = f.person("sub-stranger", "052090009999", 2, "BCA").await;
    assert_eq!(f.link(&stranger, 2, "BCA").await, LinkOutcome::NoMatch);
    assert_eq!(
        f.db.account_link_by_person(&stranger.person_id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(f.conflict_of(&stranger).await, None);
    assert!(f.audit("account_linked").await.is_empty());
    assert!(f.audit("account_link").await.is_empty());
}

#[tokio::test]
async fn a_number_held_by_two_accounts_links_neither_and_records_a_conflict() {
    let f = with_directory().await;
    let binh = f.person("sub-binh", "052195004567", 2, "BCA").await;
    assert_eq!(
        f.link(&binh, 2, "BCA").await,
        conflict(
            ConflictReason::DuplicatePersonalId,
            &["binh.tt", "binh.tt2"]
        )
    );
    assert_eq!(
        f.db.account_link_by_person(&binh.person_id).await.unwrap(),
        None
    );
    assert_eq!(
        f.db.account_link_by_username("binh.tt").await.unwrap(),
        None
    );
    assert_eq!(
        f.conflict_of(&binh).await,
        Some((
            "duplicate_personal_id".into(),
            vec!["binh.tt".into(), "binh.tt2".into()]
        ))
    );
    let events = f.audit("account_link").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].outcome.as_str(), events[0].reason.as_deref()),
        ("conflict", Some("duplicate_personal_id"))
    );
    assert_eq!(
        events[0].detail,
        serde_json::json!({"usernames": ["binh.tt", "binh.tt2"]})
    );
    assert_eq!(
        events[0].person_id.as_deref(),
        Some(binh.person_id.as_str())
    );
}

#[tokio::test]
async fn a_staff_account_needs_vneid_level_2_not_level_1_nor_a_vietnam_post_account() {
    let f = with_directory().await;
    let dung = f.person("sub-dung", "052178001122", 1, "BCA").await;
    let staff_rule = conflict(ConflictReason::StaffRequiresVneidLevel2, &["dung.pt"]);
    // VNeID, but level 1.
    assert_eq!(f.link(&dung, 1, "BCA").await, staff_rule);
    assert_eq!(
        f.conflict_of(&dung).await,
        Some((
            "staff_requires_vneid_level_2".into(),
            vec!["dung.pt".into()]
        ))
    );
    // Level 2, but a Vietnam Post account.
    let post = f
        .person("sub-dung-vnpost", "052178001122", 2, "VNPOST")
        .await;
    assert_eq!(post.person_id, dung.person_id, "the same human, by number");
    assert_eq!(f.link(&post, 2, "VNPOST").await, staff_rule);
    assert_eq!(
        f.db.account_link_by_username("dung.pt").await.unwrap(),
        None
    );
    let events = f.audit("account_link").await;
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|e| e.reason.as_deref() == Some("staff_requires_vneid_level_2")));
    assert!(events
        .iter()
        .any(|e| e.login_idp.as_deref() == Some("VNPOST")));

    // A citizen's account is reachable whatever the account system and level.
    let an = f.person("sub-an", "052090000123", 1, "VNPOST").await;
    assert_eq!(
        f.link(&an, 1, "VNPOST").await,
        LinkOutcome::Linked {
            username: "an.nv".into()
        }
    );
}

#[tokio::test]
async fn an_account_linked_to_another_person_is_not_taken_over() {
    let f = with_directory().await;
    // An admin linked yen.ht to somebody else (a wrong decision, or a since-corrected number).
    let other = f.person("sub-other", "052090001111", 2, "BCA").await;
    f.db.create_account_link(&AccountLink {
        username: "yen.ht".into(),
        person_id: other.person_id.clone(),
        level: 2,
        login_idp: Some("BCA".into()),
        via: "admin".into(),
        created_at: at(),
    })
    .await
    .unwrap();
    let yen = f.person("sub-yen", "052188001234", 2, "BCA").await;
    assert_eq!(
        f.link(&yen, 2, "BCA").await,
        conflict(ConflictReason::AccountLinkedToAnotherPerson, &["yen.ht"])
    );
    assert_eq!(
        f.db.account_link_by_username("yen.ht")
            .await
            .unwrap()
            .unwrap()
            .person_id,
        other.person_id,
        "the link stays where it was"
    );
    assert_eq!(
        f.conflict_of(&yen).await,
        Some((
            "account_linked_to_another_person".into(),
            vec!["yen.ht".into()]
        ))
    );
}

#[tokio::test]
async fn a_conflict_is_cleared_by_a_later_successful_link() {
    let f = with_directory().await;
    let dung = f.person("sub-dung", "052178001122", 1, "BCA").await;
    assert!(matches!(
        f.link(&dung, 1, "BCA").await,
        LinkOutcome::Conflict { .. }
    ));
    assert!(f.conflict_of(&dung).await.is_some());
    // She gets her level-2 account at the commune police and logs in again.
    let again = f.person("sub-dung", "052178001122", 2, "BCA").await;
    assert_eq!(again.person_id, dung.person_id);
    assert_eq!(
        f.link(&again, 2, "BCA").await,
        LinkOutcome::Linked {
            username: "dung.pt".into()
        }
    );
    assert_eq!(f.conflict_of(&dung).await, None);
    assert!(f.db.list_link_conflicts(100).await.unwrap().is_empty());

    // Likewise once an admin removes the wrong link that blocked someone.
    let other = f.person("sub-other", "052090001111", 2, "BCA").await;
    f.db.create_account_link(&AccountLink {
        username: "yen.ht".into(),
        person_id: other.person_id.clone(),
        level: 2,
        login_idp: Some("BCA".into()),
        via: "admin".into(),
        created_at: at(),
    })
    .await
    .unwrap();
    let yen = f.person("sub-yen", "052188001234", 2, "BCA").await;
    assert!(matches!(
        f.link(&yen, 2, "BCA").await,
        LinkOutcome::Conflict { .. }
    ));
    f.db.remove_account_link("yen.ht").await.unwrap();
    assert_eq!(
        f.link(&yen, 2, "BCA").await,
        LinkOutcome::Linked {
            username: "yen.ht".into()
        }
    );
    assert_eq!(f.conflict_of(&yen).await, None);
}

/// A file with two good rows and two rejected ones (lines 3 and 5).
const WITH_BAD_ROWS: &str =
    "username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email\n\
moi.mot,Người Mới Một,UBND-X01,UBND xã Hòa Bắc,staff,052085007890,,,\n\
,Không Tên,UBND-X01,UBND xã Hòa Bắc,staff,,,,\n\
moi.hai,Người Mới Hai,UBND-X01,UBND xã Hòa Bắc,citizen,,,,\n\
sai.loai,Sai Loại,UBND-X01,UBND xã Hòa Bắc,boss,,,,\n";

fn rejected(report: &ImportReport) -> Vec<(usize, Option<&'static str>, &'static str)> {
    report
        .rejected
        .iter()
        .map(|r| (r.line, r.field, r.reason))
        .collect()
}

fn counts(report: &ImportReport) -> (u64, u64, u64) {
    (report.created, report.updated, report.unchanged)
}

#[tokio::test]
async fn a_file_with_rejected_rows_writes_nothing_but_reports_exact_counts() {
    let f = empty().await;
    let report = f.import(WITH_BAD_ROWS, ImportOptions::default()).await;
    assert!(report.refused());
    assert!(!report.written && !report.dry_run);
    assert_eq!((report.rows, report.accepted), (4, 2));
    assert_eq!(
        rejected(&report),
        [
            (3, Some("username"), "username_missing"),
            (5, Some("kind"), "kind_unknown")
        ]
    );
    assert_eq!(counts(&report), (2, 0, 0), "what would have been written");
    assert_eq!(report.flagged.missing.len(), 1);
    assert_eq!(report.flagged.missing[0].username, "moi.hai");
    assert_eq!(report.flagged.missing[0].line, 4);
    assert_eq!(f.db.count_directory_accounts().await.unwrap(), 0);
    assert_eq!(f.db.directory_account("moi.mot").await.unwrap(), None);
}

#[tokio::test]
async fn a_dry_run_writes_nothing_even_with_allow_partial() {
    let f = empty().await;
    let report = f
        .import(
            &format!("{HEADER}{DIRECTORY}"),
            ImportOptions {
                dry_run: true,
                allow_partial: false,
                sync: false,
            },
        )
        .await;
    assert!(report.dry_run && !report.written && !report.refused());
    assert_eq!(counts(&report), (8, 0, 0));
    assert_eq!(report.flagged.duplicate, ["binh.tt", "binh.tt2"]);
    assert_eq!(f.db.count_directory_accounts().await.unwrap(), 0);

    let report = f
        .import(
            WITH_BAD_ROWS,
            ImportOptions {
                dry_run: true,
                allow_partial: true,
                sync: false,
            },
        )
        .await;
    assert!(report.dry_run && !report.written && !report.refused());
    assert_eq!(counts(&report), (2, 0, 0));
    assert_eq!(rejected(&report).len(), 2);
    assert_eq!(f.db.count_directory_accounts().await.unwrap(), 0);
}

#[tokio::test]
async fn allow_partial_writes_the_good_rows() {
    let f = empty().await;
    let report = f
        .import(
            WITH_BAD_ROWS,
            ImportOptions {
                dry_run: false,
                allow_partial: true,
                sync: false,
            },
        )
        .await;
    assert!(report.written && !report.refused());
    assert_eq!(rejected(&report).len(), 2);
    assert_eq!(counts(&report), (2, 0, 0));
    assert_eq!(f.db.count_directory_accounts().await.unwrap(), 2);
    let moi = f.db.directory_account("moi.mot").await.unwrap().unwrap();
    assert_eq!(moi.full_name, "Người Mới Một");
    assert_eq!(moi.personal_id_status, "valid");
    assert_eq!(
        moi.personal_id_hash.as_deref(),
        Some(f.master.personal_id_hash("052085007890").as_str())
    );
    assert_eq!(moi.personal_id_masked.as_deref(), Some("052*******90"));
    let clear = f
        .master
        .open_personal_id(moi.personal_id_sealed.as_deref().unwrap())
        .unwrap();
    assert_eq!(clear, "052085007890");
    let hai = f.db.directory_account("moi.hai").await.unwrap().unwrap();
    assert_eq!(
        (
            hai.personal_id_status.as_str(),
            hai.personal_id_hash,
            hai.personal_id_sealed
        ),
        ("missing", None, None)
    );
}

#[tokio::test]
async fn re_importing_the_same_file_changes_nothing_and_a_changed_row_is_updated() {
    let f = with_directory().await;
    let stored = f.db.directory_account("sai.so").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.personal_id_status.as_str(),
            stored.personal_id_problem.as_deref()
        ),
        ("invalid", Some("format"))
    );
    assert_eq!(
        stored.personal_id_hash, None,
        "an invalid number is never hashed for lookup"
    );

    let again = f
        .import(&format!("{HEADER}{DIRECTORY}"), ImportOptions::default())
        .await;
    assert!(again.written);
    assert_eq!(counts(&again), (0, 0, 8));
    assert_eq!(f.db.count_directory_accounts().await.unwrap(), 8);
    assert_eq!(
        f.db.directory_account("sai.so").await.unwrap().unwrap(),
        stored
    );

    // The unit fixes binh.tt2's number: one update, and binh.tt is no longer a duplicate.
    let fixed = DIRECTORY.replace(
        "binh.tt2,\"Trần Thị Bình, bản sao\",UBND-P02,UBND phường Thạch Thang,staff,052195004567",
        "binh.tt2,\"Trần Thị Bình, bản sao\",UBND-P02,UBND phường Thạch Thang,staff,052195004568",
    );
    assert_ne!(fixed, DIRECTORY);
    let report = f
        .import(&format!("{HEADER}{fixed}"), ImportOptions::default())
        .await;
    assert_eq!(counts(&report), (0, 1, 7));
    assert!(report.flagged.duplicate.is_empty(), "{:?}", report.flagged);
    for username in ["binh.tt", "binh.tt2"] {
        let a = f.db.directory_account(username).await.unwrap().unwrap();
        assert_eq!(a.personal_id_status, "valid", "{username}");
    }
    // Now binh.tt links on login.
    let binh = f.person("sub-binh", "052195004567", 2, "BCA").await;
    assert_eq!(
        f.link(&binh, 2, "BCA").await,
        LinkOutcome::Linked {
            username: "binh.tt".into()
        }
    );
}
