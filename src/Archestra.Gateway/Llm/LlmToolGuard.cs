using System.Buffers;
using System.Text;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Llm.Dialects;
using Archestra.Policy;
using Archestra.Runtime.JsonRpc;

namespace Archestra.Gateway.Llm;

/// <summary>
/// The tool-invocation policies applied to the tool calls in an LLM answer, in the trust of the request's
/// conversation. An allowed call passes unchanged; a refused one (blocked, or needing an approval nobody can give
/// on this path) is removed and replaced by assistant text that explains the refusal, so the agent's loop goes on
/// with the model reading why. When every call of a choice is refused its finish reason becomes the plain one, so
/// the SDK does not look for calls that are gone. One guard per request; streams keep their state here.
/// <para>
/// Streams: every event that carries no tool call goes out at once; the events of a tool call are held until the call
/// is complete and decided, then released as they came or replaced by text events. Each API's answers and streams are
/// read in its own file: <c>LlmToolGuard.Chat.cs</c>, <c>LlmToolGuard.Responses.cs</c>, <c>LlmToolGuard.Messages.cs</c>,
/// <c>LlmToolGuard.Gemini.cs</c>.
/// </para>
/// </summary>
internal sealed partial class LlmToolGuard
{
    private readonly LlmConversation _conversation;
    private readonly List<string> _refused = [];

    public LlmToolGuard(LlmDialect dialect, LlmConversation conversation)
    {
        Kind = dialect.Kind;
        Api = dialect.Api;
        _conversation = conversation;
    }

    public LlmProviderKind Kind { get; }

    public LlmApi Api { get; }

    /// <summary>The refused calls, each as "tool (why)", for the audit row and the log.</summary>
    public IReadOnlyList<string> Refused => _refused;

    /// <summary>The profile's tool selection: a call of a tool it does not expose is refused before any policy is read.</summary>
    public ProfileToolSelection? Selection { get; init; }

    /// <summary>Decides one call; null when it may go ahead, else the text that replaces it.</summary>
    internal string? Decide(string tool, ReadOnlySpan<byte> arguments)
    {
        if (Selection?.Hides(tool) is { } rule)
        {
            _refused.Add($"{tool} (not exposed)");
            return $"[Archestra] The call to the tool {tool} was not made: profile '{Selection.Profile}' does not expose it ({rule}).";
        }

        if (Unreadable(arguments) is { } unreadable)
        {
            // The policy would read one copy of a repeated key and the agent's SDK may run the other.
            _refused.Add($"{tool} (ambiguous arguments)");
            return $"[Archestra] The call to the tool {tool} was not made: its arguments cannot be checked ({unreadable}).";
        }

        var trusted = _conversation.IsTrusted;
        var decision = _conversation.Policies.EvaluateInvocation(tool, arguments, trusted);
        if (decision.IsAllowed)
        {
            return null;
        }

        var why =
            decision.Verdict == InvocationVerdict.RequireApproval
                ? $"policy {decision.PolicyId} requires a person's approval ({decision.Reason}), and nobody can approve a call on the LLM "
                    + "proxy, so it was not made"
            : decision.Source == DecisionSource.Policy ? $"blocked by policy {decision.PolicyId}: {decision.Reason}"
            : $"blocked by the default setting of {(tool.Length > 0 ? tool : "unnamed tools")}: {decision.Reason}";
        _refused.Add($"{tool} ({(decision.Source == DecisionSource.Policy ? "policy " + decision.PolicyId : "default")})");
        var text = $"[Archestra] The call to the tool {tool} was not made: {why}.";
        return trusted ? text : $"{text} Note: {_conversation.UntrustedBecause()}.";
    }

    /// <summary>Why a provider's answer, event or call arguments may be read two ways, or null (nesting bounded as request bodies are).</summary>
    internal static string? Unreadable(ReadOnlySpan<byte> json) => StrictJson.Ambiguity(json, LlmRequestBody.MaxDepth);

    /// <summary>The audit text: which calls were refused.</summary>
    public string? AuditText() => _refused.Count == 0 ? null : $"blocked tool calls: {string.Join(", ", _refused)}";

    // ---- whole JSON answers ----

    /// <summary>The answer with refused calls replaced; null when every call is allowed (the bytes go out as they are).</summary>
    public byte[]? RewriteAnswer(ReadOnlySpan<byte> json)
    {
        var edits = new List<Edit>();
        try
        {
            switch (Api)
            {
                case LlmApi.ChatCompletions:
                    ChatAnswer(json, edits);
                    break;
                case LlmApi.Responses:
                    ResponsesAnswer(json, edits);
                    break;
                case LlmApi.GenerateContent:
                    GeminiAnswer(json, edits);
                    break;
                default:
                    AnthropicAnswer(json, edits);
                    break;
            }
        }
        catch (JsonException)
        {
            // Not the JSON the API documents: relayed unchanged, like any answer the proxy cannot read.
            return null;
        }

        return edits.Count == 0 ? null : Apply(json, edits);
    }

    /// <summary>Replace <see cref="Start"/>..<see cref="End"/> with <see cref="Text"/>.</summary>
    private readonly record struct Edit(int Start, int End, byte[] Text);

    private static byte[] Apply(ReadOnlySpan<byte> json, List<Edit> edits)
    {
        edits.Sort(static (a, b) => a.Start.CompareTo(b.Start));
        var output = new ArrayBufferWriter<byte>(json.Length + 512);
        var at = 0;
        foreach (var edit in edits)
        {
            output.Write(json[at..edit.Start]);
            output.Write(edit.Text);
            at = edit.End;
        }

        output.Write(json[at..]);
        return output.WrittenSpan.ToArray();
    }

    private static byte[] JsonString(string text)
    {
        var buffer = new ArrayBufferWriter<byte>(text.Length + 16);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStringValue(text);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A member (name through value) with the comma that joins it to a neighbour, so the object stays valid.</summary>
    private static (int Start, int End) MemberWithComma(ReadOnlySpan<byte> json, int nameStart, int valueEnd)
    {
        var before = nameStart - 1;
        while (before > 0 && json[before] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            before--;
        }

        if (json[before] == (byte)',')
        {
            return (before, valueEnd);
        }

        var after = valueEnd;
        while (after < json.Length && json[after] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            after++;
        }

        return after < json.Length && json[after] == (byte)',' ? (nameStart, after + 1) : (nameStart, valueEnd);
    }

    // ---- streams ----

    private readonly List<StreamCall> _calls = [];

    private sealed class StreamCall(int choice, int index)
    {
        public int Choice { get; } = choice;
        public int Index { get; } = index;
        public string Id { get; set; } = "";

        /// <summary>Responses API: the sequence numbers of the call's held events.</summary>
        public List<long> Sequence { get; } = [];
        public StringBuilder Name { get; } = new();
        public ArrayBufferWriter<byte> Arguments { get; } = new();
        public bool Complete { get; set; }
        public string? Refusal { get; set; }

        /// <summary>Anthropic: the call's events, and others (pings) that came while it was held, in order.</summary>
        public List<(byte[] Event, bool Passenger)> Events { get; } = [];
    }

    /// <summary>
    /// Relays one SSE event (as the client would get it, with its data lines joined in <paramref name="data"/>): written to
    /// <paramref name="output"/> now, or held.
    /// </summary>
    public void Relay(ReadOnlySpan<byte> evt, ReadOnlySpan<byte> data, IBufferWriter<byte> output)
    {
        if (Unreadable(data) is { } why)
        {
            // Ends the stream as a broken answer (Anthropic: the documented error event; OpenAI: aborted).
            throw new InvalidDataException($"the provider sent an event the proxy cannot check: {why}");
        }

        try
        {
            switch (Api)
            {
                case LlmApi.ChatCompletions:
                    RelayChat(evt, data, output);
                    break;
                case LlmApi.Responses:
                    RelayResponses(evt, data, output);
                    break;
                case LlmApi.GenerateContent:
                    RelayGemini(evt, data, output);
                    break;
                default:
                    RelayAnthropic(evt, data, output);
                    break;
            }
        }
        catch (JsonException)
        {
            // Not the JSON the API documents (each event is parsed before anything of it is written): relayed as it is.
            output.Write(evt);
        }
    }
}
