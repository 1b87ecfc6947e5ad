using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Llm.Dialects;

namespace Archestra.Gateway.Llm.Translation;

/// <summary>Token counts of a translated answer, in OpenAI's meaning (cached and reasoning tokens are parts of the totals).</summary>
internal readonly record struct ChatUsage(long Prompt, long Completion, long Cached, long Reasoning);

/// <summary>A whole answer of another provider, as a chat completion carries it.</summary>
internal sealed record ChatAnswer(string Id, string Model, string? Text, List<ChatCall> Calls, string Finish, ChatUsage? Usage);

/// <summary>
/// The unified endpoint's translation between OpenAI chat completions (what the client speaks) and another provider's
/// API: the request (from <see cref="ChatRequest"/>), the whole answer, each streamed event (into chat chunks) and
/// error bodies. One sealed class per provider API; <see cref="ChatStream"/> keeps a stream's state.
/// </summary>
internal abstract class ChatTranslator
{
    // Relaxed: the text goes to a model, not into HTML.
    internal static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly ChatTranslator s_anthropic = new AnthropicChatTranslator();
    private static readonly ChatTranslator s_gemini = new GeminiChatTranslator();

    /// <summary>The translator to <paramref name="kind"/>'s API; null for OpenAI, which needs none.</summary>
    public static ChatTranslator? For(LlmProviderKind kind) =>
        kind switch
        {
            LlmProviderKind.Anthropic => s_anthropic,
            LlmProviderKind.Gemini => s_gemini,
            _ => null,
        };

    /// <summary>The provider's API: its usage buckets, end-of-stream events and key header.</summary>
    public abstract LlmDialect Target { get; }

    /// <summary>The path under the provider's base URL (with the query a stream needs).</summary>
    public abstract string Path(string model, bool stream);

    /// <summary>Writes the provider's request body; a message naming the field when something has no equivalent.</summary>
    public abstract string? WriteRequest(ChatRequest request, string model, Utf8JsonWriter writer);

    /// <summary>The provider's whole answer; null when it is not the documented shape.</summary>
    public abstract ChatAnswer? ReadAnswer(JsonElement root);

    /// <summary>Adds the chat chunks one streamed event of the provider turns into to <paramref name="stream"/>.</summary>
    public abstract void ReadEvent(JsonElement root, ChatStream stream);

    /// <summary>The provider's own message in an error body (<c>{"error":{"message"}}</c> for both), or null.</summary>
    public static string? ErrorMessage(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            using var document = JsonDocument.ParseValue(ref reader);
            return document.RootElement.TryGetProperty("error"u8, out var error) ? ChatRequest.Str(error, "message") : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The request body for the provider: null with <paramref name="error"/> when untranslatable.</summary>
    public byte[]? Translate(ChatRequest request, string model, out string? error)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            error = WriteRequest(request, model, writer);
        }

        return error is null ? buffer.WrittenSpan.ToArray() : null;
    }

    /// <summary>A whole answer as an OpenAI <c>chat.completion</c> object.</summary>
    public static byte[] WriteCompletion(ChatAnswer answer, long created)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("id"u8, answer.Id);
            w.WriteString("object"u8, "chat.completion"u8);
            w.WriteNumber("created"u8, created);
            w.WriteString("model"u8, answer.Model);
            w.WriteStartArray("choices"u8);
            w.WriteStartObject();
            w.WriteNumber("index"u8, 0);
            w.WriteStartObject("message"u8);
            w.WriteString("role"u8, "assistant"u8);
            w.WriteString("content"u8, answer.Text);
            w.WriteNull("refusal"u8);
            if (answer.Calls.Count > 0)
            {
                w.WriteStartArray("tool_calls"u8);
                foreach (var call in answer.Calls)
                {
                    w.WriteStartObject();
                    w.WriteString("id"u8, call.Id);
                    w.WriteString("type"u8, "function"u8);
                    w.WriteStartObject("function"u8);
                    w.WriteString("name"u8, call.Name);
                    w.WriteString("arguments"u8, call.Arguments);
                    w.WriteEndObject();
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            }

            w.WriteEndObject();
            w.WriteNull("logprobs"u8);
            w.WriteString("finish_reason"u8, answer.Finish);
            w.WriteEndObject();
            w.WriteEndArray();
            if (answer.Usage is { } usage)
            {
                WriteUsage(w, usage);
            }

            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    internal static void WriteUsage(Utf8JsonWriter w, ChatUsage usage)
    {
        w.WriteStartObject("usage"u8);
        w.WriteNumber("prompt_tokens"u8, usage.Prompt);
        w.WriteNumber("completion_tokens"u8, usage.Completion);
        w.WriteNumber("total_tokens"u8, usage.Prompt + usage.Completion);
        w.WriteStartObject("prompt_tokens_details"u8);
        w.WriteNumber("cached_tokens"u8, usage.Cached);
        w.WriteEndObject();
        w.WriteStartObject("completion_tokens_details"u8);
        w.WriteNumber("reasoning_tokens"u8, usage.Reasoning);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>An OpenAI error body carrying <paramref name="message"/>, with the type OpenAI uses for <paramref name="status"/>.</summary>
    public static byte[] WriteError(int status, string message)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteStartObject("error"u8);
            w.WriteString("message"u8, message);
            w.WriteString(
                "type"u8,
                status switch
                {
                    401 or 403 or 404 or 400 or 413 => "invalid_request_error",
                    429 => "rate_limit_exceeded",
                    _ => "server_error",
                }
            );
            w.WriteNull("param"u8);
            w.WriteNull("code"u8);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The system (and developer) messages' text, joined; empty when there are none.</summary>
    protected static string SystemText(ChatRequest request) => string.Join("\n\n", request.Messages.Where(m => m.Role == "system").Select(ChatRequest.Text));

    /// <summary>
    /// Writes the messages other than system ones as the provider's turns (<paramref name="list"/>, each with its role and
    /// <paramref name="items"/>): user and tool messages take the user role, and tool messages in a row share one turn.
    /// <paramref name="write"/> writes a message's items and may refuse it with a message.
    /// </summary>
    protected static string? WriteTurns(
        ChatRequest request,
        Utf8JsonWriter w,
        ReadOnlySpan<byte> list,
        ReadOnlySpan<byte> items,
        string assistantRole,
        Func<ChatMessage, string, Utf8JsonWriter, string?> write
    )
    {
        w.WriteStartArray(list);
        string? open = null;
        var index = 0;
        foreach (var message in request.Messages)
        {
            var at = $"messages[{index++}]";
            if (message.Role == "system")
            {
                continue;
            }

            if (!(message.Role == "tool" && open == "tool"))
            {
                if (open is not null)
                {
                    w.WriteEndArray();
                    w.WriteEndObject();
                }

                w.WriteStartObject();
                w.WriteString("role"u8, message.Role == "assistant" ? assistantRole : "user");
                w.WriteStartArray(items);
            }

            open = message.Role;
            if (write(message, at, w) is { } error)
            {
                return error;
            }
        }

        if (open is not null)
        {
            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        return null;
    }

    /// <summary>A number the client wrote, under the provider's name for it.</summary>
    protected static void Raw(Utf8JsonWriter w, string name, string? number)
    {
        if (number is not null)
        {
            w.WritePropertyName(name);
            w.WriteRawValue(number);
        }
    }

    /// <summary>A tool call's arguments as JSON text: the provider's object written as it came.</summary>
    protected static string Arguments(JsonElement args) => args.ValueKind == JsonValueKind.Object ? args.GetRawText() : "{}";

    protected static long Count(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.TryGetInt64(out var n) ? n : 0;
}

/// <summary>
/// One translated stream: the chat chunks (each an SSE event's data) the provider's events turned into so far, with
/// the id, model and tool-call indexes that every chunk repeats, and the usage for the last chunk when the client asked.
/// </summary>
internal sealed class ChatStream(long created, bool includeUsage)
{
    private readonly List<byte[]> _chunks = [];
    private bool _roleSent;

    public string Id { get; set; } = "chatcmpl-archestra";

    public string Model { get; set; } = "";

    public ChatUsage? Usage { get; set; }

    /// <summary>Tool calls started so far (their chat <c>index</c>), by the provider's block index.</summary>
    public Dictionary<int, int> ToolIndexes { get; } = [];

    /// <summary>The finish reason sent; null until then.</summary>
    public string? Finish { get; private set; }

    /// <summary>Takes the chunks written since the last call.</summary>
    public List<byte[]> Take()
    {
        var chunks = new List<byte[]>(_chunks);
        _chunks.Clear();
        return chunks;
    }

    public void Text(string text)
    {
        if (text.Length > 0 || !_roleSent)
        {
            Chunk(w => w.WriteString("content"u8, text), null);
        }
    }

    public void ToolStart(int index, string id, string name) =>
        Chunk(
            w =>
            {
                w.WriteStartArray("tool_calls"u8);
                w.WriteStartObject();
                w.WriteNumber("index"u8, index);
                w.WriteString("id"u8, id);
                w.WriteString("type"u8, "function"u8);
                w.WriteStartObject("function"u8);
                w.WriteString("name"u8, name);
                w.WriteString("arguments"u8, ""u8);
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndArray();
            },
            null
        );

    public void ToolArguments(int index, string arguments) =>
        Chunk(
            w =>
            {
                w.WriteStartArray("tool_calls"u8);
                w.WriteStartObject();
                w.WriteNumber("index"u8, index);
                w.WriteStartObject("function"u8);
                w.WriteString("arguments"u8, arguments);
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndArray();
            },
            null
        );

    public void End(string finish)
    {
        if (Finish is not null)
        {
            return;
        }

        Finish = finish;
        Chunk(static _ => { }, finish);
    }

    /// <summary>The chunks that close the stream: the usage chunk when the client asked for it (<c>"choices": []</c>).</summary>
    public void Close()
    {
        if (!includeUsage || Usage is not { } usage)
        {
            return;
        }

        _chunks.Add(Write(w => w.WriteStartArray("choices"u8), w => ChatTranslator.WriteUsage(w, usage)));
    }

    private void Chunk(Action<Utf8JsonWriter> delta, string? finish) =>
        _chunks.Add(
            Write(
                w =>
                {
                    w.WriteStartArray("choices"u8);
                    w.WriteStartObject();
                    w.WriteNumber("index"u8, 0);
                    w.WriteStartObject("delta"u8);
                    if (!_roleSent)
                    {
                        w.WriteString("role"u8, "assistant"u8);
                        _roleSent = true;
                    }

                    delta(w);
                    w.WriteEndObject();
                    w.WriteNull("logprobs"u8);
                    if (finish is null)
                    {
                        w.WriteNull("finish_reason"u8);
                    }
                    else
                    {
                        w.WriteString("finish_reason"u8, finish);
                    }

                    w.WriteEndObject();
                },
                null
            )
        );

    private byte[] Write(Action<Utf8JsonWriter> choices, Action<Utf8JsonWriter>? usage)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, ChatTranslator.WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("id"u8, Id);
            w.WriteString("object"u8, "chat.completion.chunk"u8);
            w.WriteNumber("created"u8, created);
            w.WriteString("model"u8, Model);
            choices(w);
            w.WriteEndArray();
            usage?.Invoke(w);
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
