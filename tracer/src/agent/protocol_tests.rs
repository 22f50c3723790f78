//! Unit tests of the protocol: requests as they parse and fail, answers as they are written.
use super::*;
use crate::render::events::{PlacementFields, UsageRecord};

#[test]
fn parses_each_op() {
    let q = parse(
        br#"{"v":1,"id":3,"op":"query","attrs":["pid","name"],"sort":"-pid","format":"text"}"#,
    )
    .unwrap();
    assert_eq!(q.id, 3);
    match q.command {
        Command::Query(query) => {
            assert_eq!(query.format, Format::Text);
            assert_eq!(query.sort, Some((crate::query::attrs::Attr::Pid, true)));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse(br#"{"v":1,"op":"signal","pids":[5],"signal":"kill"}"#)
            .unwrap()
            .command,
        Command::Signal {
            signal: SignalOp::Kill,
            ..
        }
    ));
    assert!(matches!(
        parse(br#"{"v":1,"op":"subscribe","kinds":["exit"]}"#)
            .unwrap()
            .command,
        Command::Subscribe { .. }
    ));
}

#[test]
fn parses_sys_and_query_limit() {
    use Section;
    match parse(br#"{"v":1,"op":"sys","sections":["cpu","memory"],"format":"text"}"#)
        .unwrap()
        .command
    {
        Command::Sys { sections, format } => {
            assert_eq!(sections, [Section::Cpu, Section::Memory]);
            assert_eq!(format, Format::Text);
        }
        other => panic!("{other:?}"),
    }
    let (id, error) = parse(br#"{"v":1,"id":4,"op":"sys","sections":["cpux"]}"#).unwrap_err();
    assert_eq!((id, error.kind), (4, "bad_request"));
    assert!(error.message.contains("unknown section 'cpux'"), "{error}");
    match parse(br#"{"v":1,"op":"query","exited":true,"limit":3}"#)
        .unwrap()
        .command
    {
        Command::Query(query) => assert_eq!(query.limit, Some(3)),
        other => panic!("{other:?}"),
    }
    assert!(parse(br#"{"v":1,"op":"query","limit":-3}"#).is_err());
}

#[test]
fn refuses_bad_requests_with_their_id() {
    for (line, kind) in [
        (&b"not json"[..], "bad_request"),
        (br#"[1,2]"#, "bad_request"),
        (br#"{"v":2,"id":9,"op":"stats"}"#, "unsupported_version"),
        (br#"{"v":1,"id":9,"op":"dance"}"#, "bad_request"),
        (
            br#"{"v":1,"id":9,"op":"query","attrs":["nope"]}"#,
            "bad_request",
        ),
        (br#"{"v":1,"id":9,"op":"wait","pids":[]}"#, "bad_request"),
        (
            br#"{"v":1,"id":9,"op":"signal","pids":[1],"signal":"hug"}"#,
            "bad_request",
        ),
        (br#"{"v":1,"id":9,"op":"query","pids":[-1]}"#, "bad_request"),
    ] {
        let (id, error) = parse(line).unwrap_err();
        assert_eq!(error.kind, kind, "{}", String::from_utf8_lossy(line));
        if line.starts_with(b"{") && line.windows(6).any(|w| w == b"\"id\":9") {
            assert_eq!(id, 9);
        }
    }
}

#[test]
fn bounds_what_a_request_may_ask() {
    let pids: Vec<String> = (0..=MAX_LIST).map(|p| p.to_string()).collect();
    let line = format!(r#"{{"v":1,"op":"query","pids":[{}]}}"#, pids.join(","));
    let (_, error) = parse(line.as_bytes()).unwrap_err();
    assert_eq!(
        error.message,
        format!(
            "\"pids\" holds at most {MAX_LIST} entries, not {}",
            MAX_LIST + 1
        )
    );
    let names = vec!["\"terminal\""; 5000].join(",");
    let line = format!(r#"{{"v":1,"op":"query","attrs":[{names}]}}"#);
    assert_eq!(parse(line.as_bytes()).unwrap_err().1.kind, "bad_request");
    let names = vec!["\"terminal\""; 4000].join(",");
    let line = format!(r#"{{"v":1,"op":"query","attrs":[{names},"pid"]}}"#);
    match parse(line.as_bytes()).unwrap().command {
        Command::Query(query) => assert_eq!(query.attrs.len(), 2),
        other => panic!("{other:?}"),
    }
    for timeout in ["1e300", "86400.5", "-0.5"] {
        let line = format!(r#"{{"v":1,"op":"wait","pids":[1],"timeout":{timeout}}}"#);
        let (_, error) = parse(line.as_bytes()).unwrap_err();
        assert_eq!(error.kind, "bad_request", "{timeout}");
        assert!(error.message.contains("\"timeout\""), "{error}");
    }
    assert!(parse(br#"{"v":1,"op":"wait","pids":[1],"timeout":86400}"#).is_ok());
}

#[test]
fn keeps_the_field_messages() {
    for (line, message) in [
        (
            &br#"{"v":1,"id":2,"op":"query","pids":[-1]}"#[..],
            "\"pids\" holds 32-bit unsigned integers",
        ),
        (
            br#"{"v":1,"op":"query","ppids":3}"#,
            "\"ppids\" is an array",
        ),
        (
            br#"{"v":1,"op":"query","attrs":"pid"}"#,
            "expected an array of strings",
        ),
        (br#"{"v":1,"op":"query","sort":1}"#, "\"sort\" is a string"),
        (
            br#"{"v":1,"op":"query","exited":"yes"}"#,
            "\"exited\" is true or false",
        ),
        (
            br#"{"v":1,"op":"query","format":"xml"}"#,
            "unknown format 'xml' (json or text)",
        ),
        (
            br#"{"v":1,"op":"tree","pid":"1"}"#,
            "\"pid\" holds 32-bit unsigned integers",
        ),
        (
            br#"{"v":1,"op":"wait","pids":[1],"timeout":-1}"#,
            "\"timeout\" is a number of seconds ≥ 0",
        ),
        (
            br#"{"v":1,"op":"wait","pids":[1],"timeout":"x"}"#,
            "\"timeout\" is a number of seconds ≥ 0",
        ),
        (br#"{"v":1,"op":"wait"}"#, "wait needs \"pids\""),
        (
            br#"{"v":1,"op":"signal","pids":[1]}"#,
            "\"signal\" is one of kill, terminate, suspend, resume",
        ),
        (
            br#"{"v":1,"op":"subscribe","kinds":["spawn"]}"#,
            "unknown event kind 'spawn' (expected fork, exec or exit)",
        ),
        (
            br#"{"v":1,"op":"dance"}"#,
            "unknown op 'dance' (query, tree, subscribe, wait, signal, stats, sys)",
        ),
        (br#"{"v":1,"op":7}"#, "missing \"op\""),
        (
            br#"{"v":"1","op":"stats"}"#,
            "missing \"v\" (protocol version)",
        ),
        (br#"[1,2]"#, "a request is a JSON object"),
    ] {
        let (_, error) = parse(line).unwrap_err();
        assert_eq!(error.message, message, "{}", String::from_utf8_lossy(line));
    }
    let (_, error) = parse(b"not json").unwrap_err();
    assert!(
        error.message.starts_with("not JSON: expected ident"),
        "{error}"
    );
    // Lenient where it always was: unknown fields, null fields, a format that is no string.
    let parsed =
        parse(br#"{"v":1,"id":"x","op":"query","pids":null,"format":5,"extra":{}}"#).unwrap();
    assert_eq!(parsed.id, 0);
    assert!(matches!(parsed.command, Command::Query(q) if q.format == Format::Json));
}

#[test]
fn typed_requests_round_trip() {
    let request = Request::Subscribe(SubscribeRequest {
        pids: vec![1, 2],
        ppids: vec![],
        uids: vec![0],
        names: vec!["bash".into()],
        kinds: vec!["exit".into()],
        replay_exited: true,
        format: Format::Text,
        placement: PlacementRequest {
            containers: vec!["0123456789ab".into()],
            pidns: vec![4026531836],
            ..Default::default()
        },
    });
    let line = crate::render::json::to_vec(&Envelope {
        v: VERSION,
        id: 9,
        request: request.clone(),
    });
    assert_eq!(
        String::from_utf8_lossy(&line),
        r#"{"v":1,"id":9,"op":"subscribe","pids":[1,2],"ppids":[],"uids":[0],"names":["bash"],"kinds":["exit"],"replay_exited":true,"format":"text","containers":["0123456789ab"],"pidns":[4026531836]}"#
    );
    let back: Envelope = serde_json::from_slice(&line).unwrap();
    assert_eq!(back.request, request);
    let parsed = parse(&line).unwrap();
    assert_eq!(parsed.id, 9);
    assert!(matches!(
        parsed.command,
        Command::Subscribe {
            replay_exited: true,
            ref filter,
            ..
        } if filter.placement.pidns == [4026531836]
    ));
    // Bad placement criteria are one clear error.
    let (_, error) = parse(br#"{"v":1,"op":"query","containers":["zz"]}"#).unwrap_err();
    assert!(error.message.contains("not 1 to 64 hex digits"), "{error}");
    let (_, error) = parse(br#"{"v":1,"op":"query","group_by":"pid"}"#).unwrap_err();
    assert!(error.message.starts_with("unknown group 'pid'"), "{error}");
    let (_, error) = parse(br#"{"v":1,"op":"query","pidns":[-1]}"#).unwrap_err();
    assert!(error.message.contains("pidns"), "{error}");
    let parsed = parse(br#"{"v":1,"op":"query","group_by":"container","cgroups":["a"]}"#).unwrap();
    assert!(matches!(parsed.command, Command::Query(q)
        if q.group_by == Some(crate::query::group::GroupBy::Container)
            && q.placement.cgroups == [OsString::from("/a")]));
    let stats = crate::render::json::to_vec(&Envelope {
        v: 1,
        id: 1,
        request: Request::Stats {},
    });
    assert_eq!(
        String::from_utf8_lossy(&stats),
        r#"{"v":1,"id":1,"op":"stats"}"#
    );
}

#[test]
fn headers_are_todays_lines() {
    assert_eq!(
        ok_header(7, 12),
        b"{\"v\":1,\"id\":7,\"ok\":true,\"len\":12}\n"
    );
    assert_eq!(
        stream_header(7),
        b"{\"v\":1,\"id\":7,\"ok\":true,\"stream\":true}\n"
    );
    let error = ProtocolError {
        kind: "busy",
        message: "try \"later\"\n".into(),
    };
    assert_eq!(
        String::from_utf8_lossy(&error_line(3, &error)),
        "{\"v\":1,\"id\":3,\"ok\":false,\"error\":\"busy\",\"message\":\"try \\\"later\\\"\\n\"}\n"
    );
    let header: Header = serde_json::from_slice(&error_line(3, &error)).unwrap();
    assert_eq!((header.ok, header.error.as_deref()), (false, Some("busy")));
}

#[test]
fn wait_and_signal_answers_are_todays_json() {
    let usage = crate::event::Usage {
        user: 0.25,
        peak_rss: 4096,
        ..Default::default()
    };
    let answer = WaitAnswer {
        gone: vec![
            Gone {
                pid: 5,
                name: "sleep".into(),
                returncode: Some(0),
                usage: UsageRecord::new(Some(&usage)),
                placement: PlacementFields {
                    cgroup: Some("/docker/x".into()),
                    pidns: Some(4026531836),
                    vpid: Some(1),
                    vppid: Some(0),
                    ..Default::default()
                },
            },
            Gone {
                pid: 6,
                name: "a\"b".into(),
                returncode: None,
                usage: UsageRecord::new(None),
                placement: PlacementFields::default(),
            },
        ],
        alive: vec![Alive {
            pid: 7,
            name: "bash".into(),
        }],
    };
    let json = crate::render::json::to_string(&answer);
    assert_eq!(
        json,
        r#"{"gone":[{"pid":5,"name":"sleep","returncode":0,"cpu_times":{"user":0.25,"system":0.0,"children_user":0.0,"children_system":0.0,"iowait":0.0},"memory_info":{"rss":4096},"num_ctx_switches":{"voluntary":0,"involuntary":0},"io_counters":{},"num_page_faults":{"minor":0,"major":0},"cgroup":"/docker/x","cgroup_id":null,"container_id":null,"container_runtime":null,"pod_uid":null,"pidns":4026531836,"mntns":null,"netns":null,"userns":null,"utsns":null,"ipcns":null,"cgroupns":null,"vpid":1,"vppid":0},{"pid":6,"name":"a\"b","returncode":null,"cpu_times":null,"memory_info":null,"num_ctx_switches":null,"io_counters":null,"num_page_faults":null,"cgroup":null,"cgroup_id":null,"container_id":null,"container_runtime":null,"pod_uid":null,"pidns":null,"mntns":null,"netns":null,"userns":null,"utsns":null,"ipcns":null,"cgroupns":null,"vpid":null,"vppid":null}],"alive":[{"pid":7,"name":"bash"}]}"#
    );
    let back: WaitAnswer = serde_json::from_str(&json).unwrap();
    assert_eq!(back, answer);
    let results = vec![
        SignalResult {
            pid: 1,
            ok: true,
            error: None,
        },
        SignalResult {
            pid: 2,
            ok: false,
            error: Some("no such process".into()),
        },
    ];
    assert_eq!(
        crate::render::json::to_string(&results),
        r#"[{"pid":1,"ok":true,"error":null},{"pid":2,"ok":false,"error":"no such process"}]"#
    );
}
