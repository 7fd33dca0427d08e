//! The one model client every stage that asks a language model shares (intents today; reply
//! drafts, partner-reply classification and narration next), on `async-openai` against any
//! OpenAI-compatible chat-completions endpoint.
//!
//! A stage asks one question per input: a system prompt, the input's text and one tool the model is
//! forced to call, whose arguments are the structured answer ([`ModelClient::call_tool`]). Whatever
//! the stage makes of the answer is logged as an event, so nothing downstream, and no replay, ever
//! calls a model again (ARCHITECTURE.md, "LLM/NLU results are events").
//!
//! Failures come in two kinds, because a stage must treat them differently: [`ModelError::Transient`]
//! (unreachable, timed out, rate-limited, overloaded, or a wrong key/model/URL an operator will fix)
//! makes the stage retry the batch without advancing; [`ModelError::Unusable`] (this one request was
//! refused, or the answer has no usable tool call) lets the stage fall back to its offline logic for
//! that input.

use anyhow::anyhow;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionNamedToolChoice, ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage, ChatCompletionTool, ChatCompletionToolChoiceOption,
    ChatCompletionTools, CreateChatCompletionRequest, FunctionName, FunctionObject,
};
use serde_json::Value;
use souk_runtime::tenants::Secret;
use std::time::Duration;

/// Environment variable holding the API key (sent as a bearer token).
pub const API_KEY_ENV: &str = "SOUK_LLM_API_KEY";

/// Where and how to reach the model; built by `souk run` from `--llm-*` flags and the environment.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// Base URL of the OpenAI-compatible API, e.g. `https://api.openai.com/v1` (`/chat/completions` is appended).
    pub base_url: String,
    /// Model name sent in the request and logged as `llm:<model>`.
    pub model: String,
    /// Bearer token ([`API_KEY_ENV`]); never printed.
    pub api_key: Secret,
    /// Whole-request timeout; exceeding it is a transient failure.
    pub timeout: Duration,
}

impl ModelConfig {
    /// Default request timeout: long enough for a small model, short enough not to stall a partition.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

    /// A configuration with the key from [`API_KEY_ENV`] (any value for servers without auth).
    pub fn from_env(base_url: &str, model: &str) -> anyhow::Result<ModelConfig> {
        let key = std::env::var(API_KEY_ENV).map_err(|_| anyhow!("--llm-base-url is set but {API_KEY_ENV} is not (use any value for a server without auth)"))?;
        Ok(ModelConfig { base_url: base_url.to_string(), model: model.to_string(), api_key: Secret::new(key), timeout: Self::DEFAULT_TIMEOUT })
    }
}

/// Why a model call produced no answer.
#[derive(Debug)]
pub enum ModelError {
    /// Retry later (the stage does not advance).
    Transient(anyhow::Error),
    /// This input's answer is unusable: the stage falls back to its offline logic.
    Unusable(String),
}

/// The function a stage forces the model to call: its name, what it is for, and the JSON schema of
/// its arguments (the shape of the answer the stage wants).
#[derive(Debug, Clone)]
pub struct Tool {
    /// Function name, `[a-zA-Z0-9_-]{1,64}`.
    pub name: &'static str,
    /// What calling it records, for the model.
    pub description: &'static str,
    /// JSON schema of the arguments.
    pub parameters: Value,
}

/// A chat-completions client for one configured model.
pub struct ModelClient {
    client: async_openai::Client<OpenAIConfig>,
    model: String,
    timeout: Duration,
    name: String,
}

impl ModelClient {
    /// A client for `config`'s endpoint and model.
    pub fn new(config: &ModelConfig) -> ModelClient {
        let openai = OpenAIConfig::new().with_api_base(config.base_url.trim_end_matches('/')).with_api_key(config.api_key.expose());
        ModelClient { client: async_openai::Client::with_config(openai), model: config.model.clone(), timeout: config.timeout, name: format!("llm:{}", config.model) }
    }

    /// The name answers are logged under: `llm:<model>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The request [`call_tool`](Self::call_tool) sends: the system prompt, the user's text, and
    /// `tool` as the only tool, forced.
    pub fn tool_request(&self, system: &str, user: &str, tool: &Tool) -> CreateChatCompletionRequest {
        let system = ChatCompletionRequestSystemMessage { content: system.into(), name: None };
        let user = ChatCompletionRequestUserMessage { content: user.into(), name: None };
        let function = FunctionObject { name: tool.name.to_string(), description: Some(tool.description.to_string()), parameters: Some(tool.parameters.clone()), strict: None };
        CreateChatCompletionRequest {
            model: self.model.clone(),
            messages: vec![ChatCompletionRequestMessage::System(system), ChatCompletionRequestMessage::User(user)],
            tools: Some(vec![ChatCompletionTools::Function(ChatCompletionTool { function })]),
            tool_choice: Some(ChatCompletionToolChoiceOption::Function(ChatCompletionNamedToolChoice { function: FunctionName { name: tool.name.to_string() } })),
            ..Default::default()
        }
    }

    /// Asks once and returns the parsed arguments of the forced `tool` call.
    pub async fn call_tool(&self, system: &str, user: &str, tool: &Tool) -> Result<Value, ModelError> {
        let request = self.tool_request(system, user, tool);
        // The answer is read as plain JSON, not the crate's strict response type, so servers that
        // leave out fields the protocol marks required (or send arguments as an object) still work.
        let chat = self.client.chat();
        let call = chat.create_byot::<_, Value>(request);
        let answer = match tokio::time::timeout(self.timeout, call).await {
            Err(_) => return Err(ModelError::Transient(anyhow!("{} did not answer within {:?}", self.name, self.timeout))),
            Ok(result) => result.map_err(|e| classify(&self.name, e))?,
        };
        tool_arguments(&answer, tool.name).map_err(ModelError::Unusable)
    }
}

/// Sorts a client error into retry-later or use-the-fallback.
fn classify(name: &str, error: OpenAIError) -> ModelError {
    match error {
        OpenAIError::Reqwest(e) => ModelError::Transient(anyhow!(e).context(format!("calling {name}"))),
        OpenAIError::ApiError(response) => {
            let status = response.status_code.as_u16();
            let detail: String = response.api_error.message.chars().take(300).collect();
            let why = format!("{name} answered {status}: {detail}");
            // 429/5xx/408 pass; 401/403/404 are a wrong key, model or URL, fixed by an operator
            // while the stage waits. Other 4xx reject this one request.
            match status {
                408 | 429 | 401 | 403 | 404 | 500..=599 => ModelError::Transient(anyhow!(why)),
                _ => ModelError::Unusable(why),
            }
        }
        other => ModelError::Unusable(format!("{name}: {other}")),
    }
}

/// `choices[0].message.tool_calls[0].function.arguments` of a chat-completions answer, parsed
/// (a JSON string by the protocol; an object is accepted from lenient servers).
fn tool_arguments(answer: &Value, tool: &str) -> Result<Value, String> {
    let function = &answer["choices"][0]["message"]["tool_calls"][0]["function"];
    if function["name"].as_str() != Some(tool) {
        return Err(format!("no {tool} tool call in the answer"));
    }
    match &function["arguments"] {
        Value::String(s) => serde_json::from_str(s).map_err(|e| format!("{tool} arguments are not JSON: {e}")),
        args @ Value::Object(_) => Ok(args.clone()),
        _ => Err(format!("{tool} call has no arguments")),
    }
}
