//! The answers every `/v1` operation may give from the layers it shares with the others
//! (authentication, body reading, the store, overload shedding), added to the OpenAPI
//! document once here rather than repeated, and forgotten, in every handler's list.
//! What a handler declares itself (with its own description) is kept.

use utoipa::Modify;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Ref, Type};
use utoipa::openapi::{OpenApi, RefOr};

pub struct SharedAnswers;

impl Modify for SharedAnswers {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") {
                continue;
            }
            let has_params = path.contains('{');
            for (method, op) in [
                (HttpMethod::Get, item.get.as_mut()),
                (HttpMethod::Post, item.post.as_mut()),
                (HttpMethod::Put, item.put.as_mut()),
                (HttpMethod::Delete, item.delete.as_mut()),
                (HttpMethod::Patch, item.patch.as_mut()),
            ] {
                if let Some(op) = op {
                    add(op, method, has_params);
                }
            }
        }
    }
}

fn add(op: &mut Operation, method: HttpMethod, has_path_params: bool) {
    // A path parameter is always required (OpenAPI says so); a parameter described by a
    // `schema_with` function loses what derive would have inferred.
    for p in op.parameters.iter_mut().flatten() {
        if matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Path) {
            p.required = utoipa::openapi::Required::True;
        }
    }
    let has_query = op.parameters.as_ref().is_some_and(|ps| {
        ps.iter()
            .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query))
    });
    let has_body = op.request_body.is_some();
    let writes = matches!(
        method,
        HttpMethod::Post | HttpMethod::Put | HttpMethod::Delete | HttpMethod::Patch
    );
    let mut answers: Vec<(&str, &str, bool)> = vec![
        ("401", "No key, or a key this server does not know", false),
        ("403", "The key's role may not do this", false),
        (
            "500",
            "An internal error (logged on the server, never sent)",
            false,
        ),
        (
            "503",
            "Overloaded or a dependency is down: nothing was done; retry after the Retry-After delay",
            true,
        ),
    ];
    if has_query || has_path_params || has_body {
        answers.push((
            "400",
            "A parameter or the body could not be read (malformed JSON, a bad query)",
            false,
        ));
    }
    if has_body {
        answers.extend([
            (
                "408",
                "The body did not arrive within the body timeout",
                false,
            ),
            ("413", "The body is larger than the server takes", false),
            ("415", "A content type this operation does not read", false),
            (
                "422",
                "Well-formed input that is not valid (the detail names the field)",
                false,
            ),
        ]);
    }
    if writes {
        answers.push((
            "507",
            "The server's disk is full: nothing was stored; retry after the Retry-After delay",
            true,
        ));
    }
    for (status, description, retry_after) in answers {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem(description, retry_after)));
    }
}

fn problem(description: &str, retry_after: bool) -> utoipa::openapi::Response {
    let mut answer = ResponseBuilder::new().description(description).content(
        "application/problem+json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    );
    if retry_after {
        answer = answer.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                )
                .description(Some("Seconds to wait before trying again"))
                .build(),
        );
    }
    answer.build()
}
