//! The client's record in IndexedDB (database `mixnet-client`, object store `clients`, one
//! JSON string per storage name), from a page or a worker.

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbFactory, IdbRequest, IdbTransactionMode};

const DATABASE: &str = "mixnet-client";
const STORE: &str = "clients";

/// Why IndexedDB could not be used.
#[derive(Debug, thiserror::Error)]
#[error("IndexedDB: {0}")]
pub struct StorageError(String);

fn js_error(what: &str, e: &JsValue) -> StorageError {
    let detail = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"));
    StorageError(format!("{what}: {detail}"))
}

/// Resolves when `request` succeeds, with its result.
async fn done(request: &IdbRequest, what: &str) -> Result<JsValue, StorageError> {
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    let outcome = JsFuture::from(promise).await;
    request.set_onsuccess(None);
    request.set_onerror(None);
    match outcome {
        Ok(_) => request.result().map_err(|e| js_error(what, &e)),
        Err(_) => {
            let reason = request
                .error()
                .ok()
                .flatten()
                .map_or_else(|| "failed".to_owned(), |e| e.message());
            Err(StorageError(format!("{what}: {reason}")))
        }
    }
}

fn factory() -> Result<IdbFactory, StorageError> {
    js_sys::Reflect::get(&js_sys::global(), &"indexedDB".into())
        .ok()
        .and_then(|f| f.dyn_into::<IdbFactory>().ok())
        .ok_or_else(|| StorageError("this browser context has no indexedDB".into()))
}

async fn database() -> Result<IdbDatabase, StorageError> {
    let request = factory()?
        .open_with_u32(DATABASE, 1)
        .map_err(|e| js_error("opening the database", &e))?;
    let upgrade = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
        let db = event
            .target()
            .and_then(|t| t.dyn_into::<IdbRequest>().ok())
            .and_then(|r| r.result().ok())
            .and_then(|r| r.dyn_into::<IdbDatabase>().ok());
        if let Some(db) = db {
            // Fails only if the store exists, which a version-1 upgrade rules out.
            let _ = db.create_object_store(STORE);
        }
    });
    request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
    let db = done(&request, "opening the database").await;
    request.set_onupgradeneeded(None);
    drop(upgrade);
    db?.dyn_into::<IdbDatabase>()
        .map_err(|e| js_error("opening the database", &e))
}

/// The record stored under `name`, if any.
pub async fn load(name: &str) -> Result<Option<String>, StorageError> {
    let db = database().await?;
    let request = db
        .transaction_with_str(STORE)
        .and_then(|t| t.object_store(STORE))
        .and_then(|s| s.get(&JsValue::from_str(name)))
        .map_err(|e| js_error("reading", &e))?;
    let value = done(&request, "reading").await;
    db.close();
    Ok(value?.as_string())
}

/// Stores `json` under `name`, durably (the transaction is complete when this returns).
pub async fn save(name: &str, json: &str) -> Result<(), StorageError> {
    let db = database().await?;
    let transaction = db
        .transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)
        .map_err(|e| js_error("writing", &e))?;
    // Listening before the request: the transaction completes in a task of its own.
    let complete = js_sys::Promise::new(&mut |resolve, reject| {
        transaction.set_oncomplete(Some(&resolve));
        transaction.set_onerror(Some(&reject));
        transaction.set_onabort(Some(&reject));
    });
    let request = transaction
        .object_store(STORE)
        .and_then(|s| s.put_with_key(&JsValue::from_str(json), &JsValue::from_str(name)))
        .map_err(|e| js_error("writing", &e))?;
    done(&request, "writing").await?;
    let outcome = JsFuture::from(complete).await;
    db.close();
    outcome.map(|_| ()).map_err(|e| js_error("writing", &e))
}
