using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Policy.Llm;

namespace Archestra.Gateway.Llm.Dialects;

/// <summary>
/// What differs between the three generation APIs the proxy speaks: OpenAI chat completions, the OpenAI Responses
/// API and Anthropic messages. Each dialect is one sealed class in this folder; the provider-wide surface (routes,
/// keys, error bodies) is shared by OpenAI's two APIs through <see cref="OpenAiDialect"/>. The rest of the proxy asks
/// the request's dialect instead of switching on the provider kind.
/// </summary>
internal abstract class LlmDialect
{
    public static LlmDialect OpenAiChat { get; } = new OpenAiChatDialect();

    public static LlmDialect OpenAiResponses { get; } = new OpenAiResponsesDialect();

    public static LlmDialect AnthropicMessages { get; } = new AnthropicMessagesDialect();

    public static LlmDialect Gemini { get; } = new GeminiDialect();

    /// <summary>
    /// The dialect of a request to <paramref name="kind"/>'s routes, by the path after the SDK's base URL; paths that
    /// generate nothing (model lists, count_tokens) get the provider's first dialect, for its routes and error bodies.
    /// </summary>
    public static LlmDialect For(LlmProviderKind kind, string? rest) =>
        kind switch
        {
            LlmProviderKind.Anthropic => AnthropicMessages,
            LlmProviderKind.Gemini => Gemini,
            _ => rest == "responses" ? OpenAiResponses : OpenAiChat,
        };

    /// <summary>The dialect the proxy's own side calls (the dual-LLM quarantine) speak to a provider: chat completions, messages or generateContent.</summary>
    public static LlmDialect ForSideCalls(LlmProviderKind kind) => For(kind, null);

    public static LlmDialect Of(LlmApi api) =>
        api switch
        {
            LlmApi.Responses => OpenAiResponses,
            LlmApi.Messages => AnthropicMessages,
            LlmApi.GenerateContent => Gemini,
            _ => OpenAiChat,
        };

    public abstract LlmProviderKind Kind { get; }

    public abstract LlmApi Api { get; }

    // ---- The provider's HTTP surface ----

    /// <summary>The provider's name in configuration (<c>profiles.NAME.llm.openai</c>) and in messages.</summary>
    public abstract string ProviderName { get; }

    /// <summary>What the proxy serves under the provider's base URL, for a 404's message.</summary>
    public abstract string ServedEndpoints { get; }

    /// <summary>What the proxy does with <paramref name="rest"/>; <paramref name="methodOk"/> false when the path is known but not for this method.</summary>
    public abstract LlmEndpoint Resolve(string rest, string method, out bool methodOk);

    /// <summary>The key the SDK sent (its API key, which the proxy takes as a virtual key); empty when none.</summary>
    public abstract ReadOnlySpan<char> ClientKey(HttpRequest request);

    /// <summary>The 401 message, in the provider's words, for a request without one of the profile's virtual keys.</summary>
    public abstract string UnauthorizedMessage(string profile);

    /// <summary>Adds the provider key to a request going upstream, in the header the provider reads.</summary>
    public abstract void AddKey(HttpRequestMessage message, string key);

    /// <summary>A header of the client's that carries its key in this API besides <c>Authorization</c> and <c>x-api-key</c> (never forwarded).</summary>
    public virtual bool IsClientKeyHeader(string name) => false;

    /// <summary>The client may send its key as the <c>key</c> query parameter (Gemini), which is then taken out of the forwarded URL.</summary>
    public virtual bool KeyInQuery => false;

    /// <summary>The model a request names in its path (Gemini); null when the body names it.</summary>
    public virtual string? ModelInPath(string rest) => null;

    /// <summary>The path with the model it names replaced (see <see cref="ModelInPath"/>).</summary>
    public virtual string WithModelInPath(string rest, string model) => rest;

    /// <summary>
    /// Writes an error the proxy answers itself as the provider's error body (its types from <see cref="LlmErrors.Map"/>),
    /// so SDKs raise their usual exception.
    /// </summary>
    public abstract void WriteError(Utf8JsonWriter writer, HttpResponse response, LlmError error, string message);

    // ---- The request's history (read by LlmHistory) ----

    /// <summary>The member of the request body that holds the history: <c>messages</c> or <c>input</c>.</summary>
    public virtual string HistoryList => "messages";

    /// <summary>The history may be a plain string (or null) instead of a list of items.</summary>
    public virtual bool HistoryMayBeText => false;

    /// <summary>Tool calls and results are blocks in a message's <c>content</c>, not items of the list.</summary>
    public virtual bool ResultsInContentBlocks => false;

    /// <summary>Tool calls and results are <c>functionCall</c> / <c>functionResponse</c> parts of a content's <c>parts</c> (Gemini).</summary>
    public virtual bool ResultsInParts => false;

    /// <summary>The JSON that replaces a result's content (withheld, sanitized, or TOON text): a JSON string in the APIs that take one.</summary>
    public virtual byte[] ResultReplacement(string text, bool withheld) => LlmBodyEdits.Quote(text);

    /// <summary>How a message names a tool result, and the member with its call id, for error messages.</summary>
    public abstract (string What, string CallIdKey) ResultNames { get; }

    /// <summary>A tool result may come without content (evaluated as an empty result).</summary>
    public virtual bool ResultContentOptional => false;

    /// <summary>The error for a result at <paramref name="at"/> whose content is neither a string nor a list.</summary>
    public abstract string ResultContentError(string at, bool functionMessage);

    /// <summary>True unless the body cannot hold a tool result: none of the API's markers occurs (unescaped).</summary>
    public abstract bool HasResultMarker(ReadOnlySpan<byte> body);

    /// <summary>True for the history item (a DOM, for the dual-LLM context) that carries the result of call <paramref name="callId"/>.</summary>
    public abstract bool IsResultOf(JsonElement item, string callId);

    /// <summary>The arguments of call <paramref name="callId"/> when this history item made it; else null.</summary>
    public abstract string? CallArguments(JsonElement item, string callId);

    // ---- The API's bodies and streams ----

    /// <summary>The proxy adds <c>stream_options.include_usage</c> to streamed requests (only chat completions has it).</summary>
    public virtual bool AsksForUsage => false;

    /// <summary>The provider's usage in the normalised billing buckets of <see cref="Usage"/>.</summary>
    public abstract Usage ToUsage(in LlmUsage usage);

    /// <summary>An event's data that ends the stream by itself (<c>[DONE]</c>); otherwise the scanner reads the end from the JSON.</summary>
    public virtual bool IsDoneMarker(ReadOnlySpan<byte> data) => false;

    /// <summary>Whether the event the scanner just read carried generated output (for the time to the first token).</summary>
    public abstract bool IsToken(LlmJsonScanner scanner);

    /// <summary>Why a stream that ended without its last event is broken, for the audit row.</summary>
    public abstract string StreamEndedEarly { get; }

    /// <summary>
    /// The event that closes a stream whose upstream broke after the status went out, when the API documents one
    /// (SDKs raise it); empty when the client's connection is aborted instead.
    /// </summary>
    public virtual ReadOnlySpan<byte> StreamCutEvent => default;

    // ---- The proxy's own structured side calls (the dual-LLM quarantine; see ForSideCalls) ----

    /// <summary>The path of a generation request for <paramref name="model"/> under the provider's base URL.</summary>
    public virtual string SideCallPath(string model) => throw new NotSupportedException($"{GetType().Name} makes no side calls");

    /// <summary>A side call's body names its model (<c>model</c>); false when the path does.</summary>
    public virtual bool ModelInBody => true;

    /// <summary>Adds what a side call needs besides its key (Anthropic: the API version, the client's own when it sent one).</summary>
    public virtual void AddSideCallHeaders(HttpRequestMessage message, IHeaderDictionary? client) { }

    /// <summary>
    /// Writes, after <c>model</c>, a non-streamed request whose reply must follow the JSON schema <paramref name="schema"/>
    /// writes (with <paramref name="count"/>): the system and user text, and the API's way to force the schema.
    /// </summary>
    public virtual void WriteStructuredRequest(
        Utf8JsonWriter writer,
        string system,
        string user,
        string tool,
        string toolDescription,
        Action<Utf8JsonWriter, int> schema,
        int count
    ) => throw new NotSupportedException($"{GetType().Name} makes no side calls");

    /// <summary>The JSON text of a structured reply (see <see cref="WriteStructuredRequest"/>); null when it carries none.</summary>
    public virtual string? StructuredReply(JsonElement root, string tool) => throw new NotSupportedException($"{GetType().Name} makes no side calls");

    protected static string? Str(JsonElement element, ReadOnlySpan<byte> name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    protected static void WriteMessage(Utf8JsonWriter writer, string role, string content)
    {
        writer.WriteStartObject();
        writer.WriteString("role"u8, role);
        writer.WriteString("content"u8, content);
        writer.WriteEndObject();
    }
}
