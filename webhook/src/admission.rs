//! The seam between HTTP and the admission decisions, and the AdmissionReview codec around it.
//!
//! The server knows nothing about federation: it decodes an `admission.k8s.io/v1` `AdmissionReview`, hands the
//! request to an [`Admit`] implementation, and encodes what comes back. The decisions themselves are pure
//! functions in `kubefed-core` (one source of truth with `kubectl fed check`); the implementation of [`Admit`]
//! that calls them lives next to the caches it reads and is plugged in by [`crate::run_with`].
//!
//! The methods return a boxed future rather than a plain response because some answers need I/O that
//! must not block the runtime — RBAC per cluster is a SubjectAccessReview (design §6). A pure decision
//! answers with `Box::pin(std::future::ready(response))`, as [`AllowAll`] does.
//!
//! Whatever the implementation returns, the server sets `response.uid` to the request's `uid`, so an
//! implementation cannot break the protocol by building a response from scratch.

use std::future::Future;
use std::pin::Pin;

use k8s_openapi::ByteString;
use k8s_openapi::api::authentication::v1::UserInfo;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use kube::core::{DynamicObject, GroupVersionKind, GroupVersionResource, TypeMeta};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The `apiVersion` of the only AdmissionReview version served.
pub const REVIEW_API_VERSION: &str = "admission.k8s.io/v1";
/// The `kind` of an AdmissionReview.
pub const REVIEW_KIND: &str = "AdmissionReview";

/// The decoded request the decisions see.
pub type Request = AdmissionRequest<DynamicObject>;

/// A decision in flight; see the module docs for why it is a future.
pub type AdmitFuture<'a> = Pin<Box<dyn Future<Output = AdmissionResponse> + Send + 'a>>;

/// Decides admission requests. Called once per request; must not panic (a panic is caught, answered with
/// 500 and counted, but it is still a bug).
///
/// A request the implementation cannot handle — an unknown kind, say — is answered with an
/// [`AdmissionResponse`] (allowed or denied, with a message), never an HTTP error.
pub trait Admit: Send + Sync + 'static {
    /// Answers `POST /validate`. Must not return a patch.
    fn validate<'a>(&'a self, request: &'a Request) -> AdmitFuture<'a>;

    /// Answers `POST /mutate`: allowed with an optional JSON patch, or denied.
    fn mutate<'a>(&'a self, request: &'a Request) -> AdmitFuture<'a>;
}

/// Allows everything unchanged: the server's behaviour before decisions are plugged in, and the
/// benchmark's floor.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllowAll;

impl Admit for AllowAll {
    fn validate<'a>(&'a self, request: &'a Request) -> AdmitFuture<'a> {
        Box::pin(std::future::ready(AdmissionResponse::from(request)))
    }

    fn mutate<'a>(&'a self, request: &'a Request) -> AdmitFuture<'a> {
        Box::pin(std::future::ready(AdmissionResponse::from(request)))
    }
}

/// Only `apiVersion` and `kind`, to explain a body that does not decode as a v1 review.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewHeader {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

/// Decodes an `admission.k8s.io/v1` `AdmissionReview` body into its request.
///
/// Distinguishes three failures so the client learns what to fix: not JSON or not the right shape
/// ([`Error::MalformedReview`]), another version or kind ([`Error::WrongReviewType`]), and no `request`
/// ([`Error::MissingRequest`]).
pub fn decode_review(body: &[u8]) -> Result<Request> {
    let review: ReviewIn = match serde_json::from_slice(body) {
        Ok(review) => review,
        Err(err) => {
            // A v1beta1 review, or some other JSON object, fails on its shape first; say what it is instead.
            if let Ok(header) = serde_json::from_slice::<ReviewHeader>(body) {
                let api_version = header.api_version.unwrap_or_default();
                let kind = header.kind.unwrap_or_default();
                if api_version != REVIEW_API_VERSION || kind != REVIEW_KIND {
                    return Err(Error::WrongReviewType { api_version, kind });
                }
            }
            return Err(Error::MalformedReview(err.to_string()));
        }
    };
    if review.api_version != REVIEW_API_VERSION || review.kind != REVIEW_KIND {
        return Err(Error::WrongReviewType {
            api_version: review.api_version,
            kind: review.kind,
        });
    }
    let types = TypeMeta {
        api_version: review.api_version,
        kind: review.kind,
    };
    review
        .request
        .map(|r| r.into_request(types))
        .ok_or(Error::MissingRequest)
}

/// An AdmissionReview as it arrives: kube's `AdmissionReview<DynamicObject>` with the same fields and serde
/// rules, decoded in one pass. kube's types flatten `apiVersion` and `kind` into the review and into each
/// object, and serde buffers a flattened map whole (as `Content`) before decoding it again: for the
/// objects that was a fifth of the webhook's CPU (perf). [`ObjectIn`] reads an object straight from the body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn {
    api_version: String,
    kind: String,
    request: Option<RequestIn>,
    /// Decoded and dropped, as kube's review decodes it (a malformed one fails alike).
    #[serde(default)]
    #[allow(dead_code)]
    response: Option<AdmissionResponse>,
}

/// kube's `AdmissionRequest<DynamicObject>`, field for field, with the objects read by [`ObjectIn`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn {
    uid: String,
    kind: GroupVersionKind,
    resource: GroupVersionResource,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    request_kind: Option<GroupVersionKind>,
    #[serde(default)]
    request_resource: Option<GroupVersionResource>,
    #[serde(default)]
    request_sub_resource: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    operation: Operation,
    user_info: UserInfo,
    object: Option<ObjectIn>,
    old_object: Option<ObjectIn>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    options: Option<RawExtension>,
}

impl RequestIn {
    fn into_request(self, types: TypeMeta) -> Request {
        AdmissionRequest {
            types,
            uid: self.uid,
            kind: self.kind,
            resource: self.resource,
            sub_resource: self.sub_resource,
            request_kind: self.request_kind,
            request_resource: self.request_resource,
            request_sub_resource: self.request_sub_resource,
            name: self.name,
            namespace: self.namespace,
            operation: self.operation,
            user_info: self.user_info,
            object: self.object.map(|o| o.0),
            old_object: self.old_object.map(|o| o.0),
            dry_run: self.dry_run,
            options: self.options,
        }
    }
}

/// A [`DynamicObject`] read in one pass, as its derived (flattening) decoder reads it: `metadata` as
/// `ObjectMeta` (default when absent), `apiVersion` and `kind` as the `types` when both are strings (each
/// is taken out of `data` whatever it is), every other key into `data`.
struct ObjectIn(DynamicObject);

impl<'de> Deserialize<'de> for ObjectIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = ObjectIn;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<ObjectIn, A::Error> {
        let mut metadata: Option<ObjectMeta> = None;
        // `apiVersion` and `kind` entries in document order, sorted out at the end.
        let mut type_fields: Vec<(String, Value)> = Vec::with_capacity(2);
        let mut data = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "metadata" => {
                    if metadata.is_some() {
                        return Err(de::Error::duplicate_field("metadata"));
                    }
                    metadata = Some(map.next_value()?);
                }
                "apiVersion" | "kind" => {
                    let value = map.next_value()?;
                    type_fields.push((key, value));
                }
                _ => {
                    let value = map.next_value()?;
                    data.insert(key, value);
                }
            }
        }
        // As serde's flattened `Option<TypeMeta>`: the entries are taken out of `data` in order until one
        // fails (not a string, or a field seen twice), which makes the types `None` and leaves the entries
        // after it in `data`.
        let (mut api_version, mut kind): (Option<String>, Option<String>) = (None, None);
        let mut failed = false;
        for (key, value) in type_fields {
            if failed {
                data.insert(key, value);
                continue;
            }
            let slot = if key == "kind" {
                &mut kind
            } else {
                &mut api_version
            };
            match value {
                Value::String(text) if slot.is_none() => *slot = Some(text),
                _ => failed = true,
            }
        }
        let types = match (api_version, kind) {
            (Some(api_version), Some(kind)) if !failed => Some(TypeMeta { api_version, kind }),
            _ => None,
        };
        Ok(ObjectIn(DynamicObject {
            types,
            metadata: metadata.unwrap_or_default(),
            data: Value::Object(data),
        }))
    }
}

/// The response review as the API server reads it. kube's `AdmissionReview` would serialize `patch` as an
/// array of numbers (kube-rs/kube#1781); the API expects `[]byte` as base64, which `ByteString` produces.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireReview<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: WireResponse<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse<'a> {
    uid: &'a str,
    allowed: bool,
    status: &'a kube::core::Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<ByteString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    audit_annotations: &'a std::collections::HashMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<&'a Vec<String>>,
}

/// Encodes a response as an `admission.k8s.io/v1` `AdmissionReview` with `uid` set to the request's (whatever
/// the decision put there) and the patch, if any, base64-encoded as a `JSONPatch`.
pub fn encode_review(uid: &str, response: AdmissionResponse) -> Result<Vec<u8>> {
    let AdmissionResponse {
        allowed,
        result,
        patch,
        audit_annotations,
        warnings,
        ..
    } = response;
    // `with_patch` is the only way to set a patch and it always means JSONPatch (the only type there is).
    let patch_type = patch.is_some().then_some("JSONPatch");
    let review = WireReview {
        api_version: REVIEW_API_VERSION,
        kind: REVIEW_KIND,
        response: WireResponse {
            uid,
            allowed,
            status: &result,
            patch: patch.map(ByteString),
            patch_type,
            audit_annotations: &audit_annotations,
            warnings: warnings.as_ref(),
        },
    };
    serde_json::to_vec(&review).map_err(Error::Encode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::admission::AdmissionReview;

    fn review(api_version: &str, kind: &str, request: &str) -> String {
        format!(r#"{{"apiVersion":"{api_version}","kind":"{kind}"{request}}}"#)
    }

    const REQUEST: &str = r#","request":{"uid":"u-1","kind":{"group":"","version":"v1","kind":"ConfigMap"},
        "resource":{"group":"","version":"v1","resource":"configmaps"},"operation":"CREATE",
        "userInfo":{"username":"alice"},"object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}}"#;

    #[test]
    fn decode_table() {
        struct Case {
            name: &'static str,
            body: String,
            want: std::result::Result<&'static str, &'static str>,
        }
        let cases = [
            Case {
                name: "valid v1",
                body: review(REVIEW_API_VERSION, REVIEW_KIND, REQUEST),
                want: Ok("u-1"),
            },
            Case {
                name: "not json",
                body: "{not json".into(),
                want: Err("not a valid AdmissionReview"),
            },
            Case {
                name: "empty body",
                body: String::new(),
                want: Err("not a valid AdmissionReview"),
            },
            Case {
                name: "json array",
                body: "[1,2]".into(),
                want: Err("not a valid AdmissionReview"),
            },
            Case {
                name: "v1beta1",
                body: review("admission.k8s.io/v1beta1", REVIEW_KIND, REQUEST),
                want: Err("got apiVersion \"admission.k8s.io/v1beta1\""),
            },
            Case {
                name: "wrong kind",
                body: review(REVIEW_API_VERSION, "ConfigMap", REQUEST),
                want: Err("kind \"ConfigMap\""),
            },
            Case {
                name: "no apiVersion",
                body: r#"{"kind":"AdmissionReview"}"#.into(),
                want: Err("apiVersion \"\""),
            },
            Case {
                name: "missing request",
                body: review(REVIEW_API_VERSION, REVIEW_KIND, ""),
                want: Err("no \"request\""),
            },
            Case {
                name: "request of wrong shape",
                body: review(REVIEW_API_VERSION, REVIEW_KIND, r#","request":{"uid":3}"#),
                want: Err("not a valid AdmissionReview"),
            },
        ];
        for case in cases {
            let got = decode_review(case.body.as_bytes());
            match (got, case.want) {
                (Ok(req), Ok(uid)) => assert_eq!(req.uid, uid, "{}", case.name),
                (Err(err), Err(fragment)) => {
                    assert!(err.to_string().contains(fragment), "{}: {err}", case.name);
                    assert_eq!(err.http_status(), http::StatusCode::BAD_REQUEST, "{}", case.name);
                }
                (got, want) => panic!("{}: got {got:?}, want {want:?}", case.name),
            }
        }
    }

    /// The one-pass decoder gives what kube's flattening `AdmissionReview<DynamicObject>` decoder gives.
    #[test]
    fn decodes_objects_as_kube_does() {
        let objects = [
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","labels":{"a":"b"}},"data":{"k":"v"}}"#,
            r#"{"apiVersion":"types.kubefed.io/v1beta1","kind":"FederatedDeployment","metadata":{"name":"w",
                "namespace":"n"},"spec":{"template":{"spec":{"replicas":3,"x":[1,-2,2.5,null,true]}},
                "placement":{"clusters":[{"name":"a"}]}},"status":{}}"#,
            r#"{"metadata":{"name":"no-types"},"spec":{}}"#,
            r#"{"apiVersion":"v1","metadata":{"name":"no-kind"}}"#,
            r#"{"apiVersion":3,"kind":"ConfigMap","metadata":{"name":"numeric-api-version"}}"#,
            r#"{"kind":"ConfigMap","apiVersion":3,"metadata":{"name":"numeric-api-version-last"}}"#,
            r#"{"apiVersion":"v1","apiVersion":"v2","kind":"ConfigMap","kind":"Secret"}"#,
            r#"{"kind":null,"apiVersion":"v1","x":1}"#,
            r#"{"apiVersion":"v1","kind":"ConfigMap"}"#,
            r#"{"kind":"ConfigMap","apiVersion":"v1","a\"b":"escaped key","metadata":{}}"#,
            r#"{}"#,
        ];
        for object in objects {
            let body = review(
                REVIEW_API_VERSION,
                REVIEW_KIND,
                &format!(
                    r#","request":{{"uid":"u","kind":{{"group":"","version":"v1","kind":"ConfigMap"}},
                    "resource":{{"group":"","version":"v1","resource":"configmaps"}},"operation":"UPDATE",
                    "userInfo":{{"username":"alice"}},"object":{object},"oldObject":{object},"dryRun":true}}"#
                ),
            );
            let ours = decode_review(body.as_bytes()).expect(object);
            let kube: AdmissionReview<DynamicObject> = serde_json::from_str(&body).expect(object);
            let kube: Request = kube.try_into().expect(object);
            assert_eq!(ours.object, kube.object, "{object}");
            assert_eq!(ours.old_object, kube.old_object, "{object}");
            assert_eq!(ours.types, kube.types, "{object}");
            assert_eq!(ours.user_info, kube.user_info, "{object}");
            assert!(ours.dry_run && ours.operation == kube.operation, "{object}");
        }
        // What kube refuses, refused alike.
        for object in [
            r#"{"metadata":null}"#,
            r#"{"metadata":{},"metadata":{}}"#,
            "[1]",
            "3",
        ] {
            let body = review(
                REVIEW_API_VERSION,
                REVIEW_KIND,
                &format!(
                    r#","request":{{"uid":"u","kind":{{"group":"","version":"v1","kind":"ConfigMap"}},
                    "resource":{{"group":"","version":"v1","resource":"configmaps"}},"operation":"CREATE",
                    "userInfo":{{"username":"alice"}},"object":{object}}}"#
                ),
            );
            assert!(
                serde_json::from_str::<AdmissionReview<DynamicObject>>(&body).is_err(),
                "kube accepts {object}"
            );
            let err = decode_review(body.as_bytes()).expect_err(object);
            assert!(
                err.to_string().contains("not a valid AdmissionReview"),
                "{object}: {err}"
            );
        }
    }

    #[test]
    fn encode_forces_uid_and_v1_type() {
        let response = AdmissionResponse::invalid("nope");
        let bytes = encode_review("u-9", response).expect("encode");
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(value["apiVersion"], REVIEW_API_VERSION);
        assert_eq!(value["kind"], REVIEW_KIND);
        assert_eq!(value["response"]["uid"], "u-9");
        assert_eq!(value["response"]["allowed"], false);
        assert_eq!(value["response"]["status"]["reason"], "InvalidRequest");
        assert!(value["response"].get("patch").is_none());
        assert!(value.get("request").is_none());
    }

    #[test]
    fn encode_writes_the_patch_as_base64_json_patch() {
        let body = review(REVIEW_API_VERSION, REVIEW_KIND, REQUEST);
        let request = decode_review(body.as_bytes()).expect("decode");
        let patch: json_patch::Patch =
            serde_json::from_str(r#"[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]"#)
                .expect("patch");
        let mut response = AdmissionResponse::from(&request)
            .with_patch(patch.clone())
            .expect("with_patch");
        response.warnings = Some(vec!["check this".into()]);
        let bytes = encode_review(&request.uid, response).expect("encode");
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(value["response"]["patchType"], "JSONPatch");
        assert_eq!(value["response"]["warnings"][0], "check this");
        let raw: ByteString =
            serde_json::from_value(value["response"]["patch"].clone()).expect("base64 string");
        let decoded: json_patch::Patch = serde_json::from_slice(&raw.0).expect("json patch");
        assert_eq!(decoded, patch);
    }

    #[tokio::test]
    async fn allow_all_allows_and_echoes_uid() {
        let body = review(REVIEW_API_VERSION, REVIEW_KIND, REQUEST);
        let request = decode_review(body.as_bytes()).expect("decode");
        for response in [AllowAll.validate(&request).await, AllowAll.mutate(&request).await] {
            assert!(response.allowed);
            assert_eq!(response.uid, "u-1");
            assert!(response.patch.is_none());
        }
    }
}
