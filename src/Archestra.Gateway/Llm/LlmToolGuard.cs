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

    /// <summary>Decides one call; null when it may go ahead, else the text that replaces it.</summary>
    internal string? Decide(string tool, ReadOnlySpan<byte> arguments)
    {
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

        var why = decision.Verdict == InvocationVerdict.RequireApproval
            ? $"policy {decision.PolicyId} requires a person's approval ({decision.Reason}), and nobody can approve a call on the LLM proxy, so it was not made"
            : decision.Source == DecisionSource.Policy
                ? $"blocked by policy {decision.PolicyId}: {decision.Reason}"
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

    /// <summary>
    /// OpenAI chat: <c>choices[].message.tool_calls[]</c>. Refused calls leave the array (the whole member when
    /// none is left, with <c>finish_reason</c> then <c>stop</c>); their texts join the message's <c>content</c>.
    /// </summary>
    private void ChatAnswer(ReadOnlySpan<byte> json, List<Edit> edits)
    {
        var reader = new Utf8JsonReader(json);
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (!JsonMember.Enter(ref reader, "choices"u8, JsonTokenType.StartArray))
            {
                continue;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                ChatChoice(ref reader, json, edits);
            }
        }
    }

    private void ChatChoice(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, List<Edit> edits)
    {
        int finishStart = -1, finishEnd = -1;
        int objectStart = -1, contentStart = -1, contentEnd = -1, callsName = -1, callsStart = -1, callsEnd = -1;
        string? content = null;
        var calls = new List<(int Start, int End, string Name, byte[] Arguments)>();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("finish_reason"u8))
            {
                (finishStart, finishEnd) = JsonMember.Range(ref reader);
                continue;
            }

            if (!JsonMember.Enter(ref reader, "message"u8, JsonTokenType.StartObject))
            {
                continue;
            }

            objectStart = (int)reader.TokenStartIndex;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("content"u8))
                {
                    reader.Read();
                    contentStart = (int)reader.TokenStartIndex;
                    content = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    reader.Skip();
                    contentEnd = (int)reader.BytesConsumed;
                }
                else if (reader.ValueTextEquals("tool_calls"u8))
                {
                    callsName = (int)reader.TokenStartIndex;
                    reader.Read();
                    callsStart = (int)reader.TokenStartIndex;
                    if (reader.TokenType == JsonTokenType.StartArray)
                    {
                        while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
                        {
                            var start = (int)reader.TokenStartIndex;
                            var (name, arguments) = ReadChatCall(ref reader);
                            calls.Add((start, (int)reader.BytesConsumed, name, arguments));
                        }
                    }
                    else
                    {
                        reader.Skip();
                    }

                    callsEnd = (int)reader.BytesConsumed;
                }
                else
                {
                    JsonMember.SkipValue(ref reader);
                }
            }
        }

        if (calls.Count == 0)
        {
            return;
        }

        var texts = new List<string>();
        var kept = new List<(int Start, int End)>();
        foreach (var call in calls)
        {
            if (Decide(call.Name, call.Arguments) is { } text)
            {
                texts.Add(text);
            }
            else
            {
                kept.Add((call.Start, call.End));
            }
        }

        if (texts.Count == 0)
        {
            return;
        }

        if (kept.Count == 0)
        {
            var (start, end) = MemberWithComma(json, callsName, callsEnd);
            edits.Add(new Edit(start, end, []));
            if (finishStart >= 0)
            {
                edits.Add(new Edit(finishStart, finishEnd, "\"stop\""u8.ToArray()));
            }
        }
        else
        {
            var array = new ArrayBufferWriter<byte>();
            array.Write("["u8);
            for (var i = 0; i < kept.Count; i++)
            {
                if (i > 0)
                {
                    array.Write(","u8);
                }

                array.Write(json[kept[i].Start..kept[i].End]);
            }

            array.Write("]"u8);
            edits.Add(new Edit(callsStart, callsEnd, array.WrittenSpan.ToArray()));
        }

        var explanation = string.Join("\n\n", texts);
        var joined = JsonString(string.IsNullOrEmpty(content) ? explanation : $"{content}\n\n{explanation}");
        if (contentStart >= 0)
        {
            edits.Add(new Edit(contentStart, contentEnd, joined));
        }
        else
        {
            edits.Add(new Edit(objectStart + 1, objectStart + 1, [.. "\"content\":"u8, .. joined, (byte)',']));
        }
    }

    /// <summary>One <c>{id, type, function: {name, arguments}}</c>: the name and the unescaped arguments text.</summary>
    private static (string Name, byte[] Arguments) ReadChatCall(ref Utf8JsonReader reader)
    {
        var name = "";
        byte[] arguments = [];
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (!JsonMember.Enter(ref reader, "function"u8, JsonTokenType.StartObject))
            {
                continue;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("name"u8))
                {
                    name = JsonMember.String(ref reader) ?? "";
                }
                else if (reader.ValueTextEquals("arguments"u8))
                {
                    arguments = JsonMember.Utf8(ref reader);
                }
                else
                {
                    reader.Read();
                }

                reader.Skip();
            }
        }

        return (name, arguments);
    }

    /// <summary>Anthropic: <c>content[]</c> <c>tool_use</c> blocks become text blocks; all refused: <c>stop_reason</c> <c>end_turn</c>.</summary>
    private void AnthropicAnswer(ReadOnlySpan<byte> json, List<Edit> edits)
    {
        var reader = new Utf8JsonReader(json);
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return;
        }

        int stopStart = -1, stopEnd = -1;
        int kept = 0, refused = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("stop_reason"u8))
            {
                (stopStart, stopEnd) = JsonMember.Range(ref reader);
                continue;
            }

            if (!JsonMember.Enter(ref reader, "content"u8, JsonTokenType.StartArray))
            {
                continue;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                var start = (int)reader.TokenStartIndex;
                var isToolUse = false;
                var name = "";
                int inputStart = 0, inputEnd = 0;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals("type"u8))
                    {
                        reader.Read();
                        isToolUse = reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("tool_use"u8);
                    }
                    else if (reader.ValueTextEquals("name"u8))
                    {
                        name = JsonMember.String(ref reader) ?? "";
                    }
                    else if (reader.ValueTextEquals("input"u8))
                    {
                        (inputStart, inputEnd) = JsonMember.Range(ref reader);
                        continue;
                    }
                    else
                    {
                        reader.Read();
                    }

                    reader.Skip();
                }

                if (!isToolUse)
                {
                    continue;
                }

                if (Decide(name, json[inputStart..inputEnd]) is { } text)
                {
                    refused++;
                    edits.Add(new Edit(start, (int)reader.BytesConsumed, TextBlock(text)));
                }
                else
                {
                    kept++;
                }
            }
        }

        if (refused > 0 && kept == 0 && stopStart >= 0)
        {
            edits.Add(new Edit(stopStart, stopEnd, "\"end_turn\""u8.ToArray()));
        }
    }

    private static byte[] TextBlock(string text) => [.. "{\"type\":\"text\",\"text\":"u8, .. JsonString(text), (byte)'}'];

    /// <summary>The Responses API: <c>output[]</c> <c>function_call</c> items become assistant message items.</summary>
    private void ResponsesAnswer(ReadOnlySpan<byte> json, List<Edit> edits)
    {
        var reader = new Utf8JsonReader(json);
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (JsonMember.Enter(ref reader, "output"u8, JsonTokenType.StartArray))
            {
                ResponsesOutput(ref reader, edits, item => Decide(item.Name, item.Arguments));
            }
        }
    }

    /// <summary>One Responses output item, as far as a function call needs reading.</summary>
    private readonly record struct OutputItem(bool IsCall, string Name, string CallId, byte[] Arguments);

    /// <summary>Reads the item object the reader is on (through its end).</summary>
    private static OutputItem ReadOutputItem(ref Utf8JsonReader reader)
    {
        var isCall = false;
        string name = "", callId = "";
        byte[] arguments = [];
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("type"u8))
            {
                reader.Read();
                isCall = reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("function_call"u8);
            }
            else if (reader.ValueTextEquals("name"u8))
            {
                name = JsonMember.String(ref reader) ?? "";
            }
            else if (reader.ValueTextEquals("call_id"u8))
            {
                callId = JsonMember.String(ref reader) ?? "";
            }
            else if (reader.ValueTextEquals("arguments"u8))
            {
                arguments = JsonMember.Utf8(ref reader);
            }
            else
            {
                reader.Read();
            }

            reader.Skip();
        }

        return new OutputItem(isCall, name, callId, arguments);
    }

    /// <summary>The <c>output</c> array the reader is on: each function call for which <paramref name="refusal"/> gives a text becomes a message item.</summary>
    private static void ResponsesOutput(ref Utf8JsonReader reader, List<Edit> edits, Func<OutputItem, string?> refusal)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
        {
            var start = (int)reader.TokenStartIndex;
            var item = ReadOutputItem(ref reader);
            if (item.IsCall && refusal(item) is { } text)
            {
                edits.Add(new Edit(start, (int)reader.BytesConsumed, ResponsesMessage(item.CallId, text, completed: true)));
            }
        }
    }

    /// <summary>An assistant message item with one output_text part (none while <paramref name="completed"/> is false).</summary>
    private static byte[] ResponsesMessage(string callId, string text, bool completed)
    {
        var buffer = new ArrayBufferWriter<byte>(text.Length + 160);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("id"u8, "msg_archestra_" + callId);
            writer.WriteString("type"u8, "message"u8);
            writer.WriteString("status"u8, completed ? "completed"u8 : "in_progress"u8);
            writer.WriteString("role"u8, "assistant"u8);
            writer.WriteStartArray("content"u8);
            if (completed)
            {
                WriteOutputText(writer, text);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteOutputText(Utf8JsonWriter writer, string text)
    {
        writer.WriteStartObject();
        writer.WriteString("type"u8, "output_text"u8);
        writer.WriteString("text"u8, text);
        writer.WriteStartArray("annotations"u8);
        writer.WriteEndArray();
        writer.WriteEndObject();
    }
}
