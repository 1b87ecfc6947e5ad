using System.Buffers;
using System.Text.Json;

namespace Archestra.Gateway.Llm;

/// <summary>
/// The Responses API: a whole answer's <c>function_call</c> output items, and in a stream a function call's events (<c>response.output_item.added</c> through
/// <c>response.output_item.done</c> at one <c>output_index</c>) are held and decided on the done item. A refused
/// call becomes an assistant message at the same index (item added, content part added, one text delta, text
/// done, part done, item done), and the final <c>response.completed</c> (or <c>.incomplete</c>) carries the same
/// message instead of the call. The replacement events reuse the sequence numbers of the events they replace.
/// </summary>
internal sealed partial class LlmToolGuard
{
    private Dictionary<string, string>? _refusedCalls;

    // ---- whole answers ----

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
        string name = "",
            callId = "";
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

    /// <summary>
    /// The <c>output</c> array the reader is on: each function call for which <paramref name="refusal"/> gives a text becomes a message
    /// item.
    /// </summary>
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

    // ---- streamed events ----

    private void RelayResponses(ReadOnlySpan<byte> evt, ReadOnlySpan<byte> data, IBufferWriter<byte> output)
    {
        if (data.IsEmpty || (_calls.Count == 0 && _refusedCalls is null && data.IndexOf("function_call"u8) < 0))
        {
            output.Write(evt);
            return;
        }

        var e = ResponsesEvent.Read(data);

        var pending = e.OutputIndex >= 0 ? _calls.Find(c => c.Index == e.OutputIndex) : null;
        switch (e.Kind)
        {
            case ResponsesEventKind.ItemAdded when e.Item.IsCall:
                var call = new StreamCall(0, e.OutputIndex) { Id = e.Item.CallId };
                call.Name.Append(e.Item.Name);
                call.Events.Add((evt.ToArray(), false));
                call.Sequence.Add(e.Sequence);
                _calls.Add(call);
                return;
            case ResponsesEventKind.ArgumentsDelta or ResponsesEventKind.ArgumentsDone or ResponsesEventKind.ItemDone when pending is not null:
                pending.Events.Add((evt.ToArray(), false));
                pending.Sequence.Add(e.Sequence);
                if (e.Kind == ResponsesEventKind.ArgumentsDelta)
                {
                    pending.Arguments.Write(e.Text);
                }

                if (e.Kind == ResponsesEventKind.ItemDone)
                {
                    // The done item is the whole call: its name and arguments decide.
                    pending.Name.Clear().Append(e.Item.Name);
                    pending.Arguments.ResetWrittenCount();
                    pending.Arguments.Write(e.Item.Arguments);
                    ReleaseResponses(pending, output);
                    _calls.Remove(pending);
                }

                return;
            case ResponsesEventKind.Final:
                foreach (var open in _calls)
                {
                    ReleaseResponses(open, output);
                }

                _calls.Clear();
                if (_refusedCalls is not null && e.ResponseStart >= 0)
                {
                    var refused = _refusedCalls;
                    var edits = new List<Edit>();
                    var reader = new Utf8JsonReader(data[e.ResponseStart..e.ResponseEnd]);
                    reader.Read();
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        if (JsonMember.Enter(ref reader, "output"u8, JsonTokenType.StartArray))
                        {
                            ResponsesOutput(ref reader, edits, item => refused.GetValueOrDefault(item.CallId));
                        }
                    }

                    if (edits.Count > 0)
                    {
                        for (var i = 0; i < edits.Count; i++)
                        {
                            edits[i] = edits[i] with { Start = edits[i].Start + e.ResponseStart, End = edits[i].End + e.ResponseStart };
                        }

                        WriteEvent(output, e.Type, Apply(data, edits));
                        return;
                    }
                }

                output.Write(evt);
                return;
            default:
                output.Write(evt);
                return;
        }
    }

    private void ReleaseResponses(StreamCall call, IBufferWriter<byte> output)
    {
        if (Decide(call.Name.ToString(), call.Arguments.WrittenSpan) is not { } text)
        {
            foreach (var (held, _) in call.Events)
            {
                output.Write(held);
            }

            return;
        }

        (_refusedCalls ??= new Dictionary<string, string>(StringComparer.Ordinal))[call.Id] = text;
        var itemId = "msg_archestra_" + call.Id;
        var sequence = 0;
        long NextSequence() => call.Sequence[Math.Min(sequence++, call.Sequence.Count - 1)];

        WriteEvent(output, "response.output_item.added", ResponsesEventJson("response.output_item.added", call.Index, null, NextSequence(), w =>
            {
                w.WritePropertyName("item"u8);
                w.WriteRawValue(ResponsesMessage(call.Id, text, completed: false), skipInputValidation: true);
            }));
        WriteEvent(output, "response.content_part.added", ResponsesEventJson("response.content_part.added", call.Index, itemId, NextSequence(), w =>
            {
                w.WritePropertyName("part"u8);
                WriteOutputText(w, "");
            }));
        WriteEvent(output, "response.output_text.delta", ResponsesEventJson("response.output_text.delta", call.Index, itemId, NextSequence(), w =>
            {
                w.WriteString("delta"u8, text);
                w.WriteStartArray("logprobs"u8);
                w.WriteEndArray();
            }));
        WriteEvent(output, "response.output_text.done", ResponsesEventJson("response.output_text.done", call.Index, itemId, NextSequence(), w =>
            {
                w.WriteString("text"u8, text);
                w.WriteStartArray("logprobs"u8);
                w.WriteEndArray();
            }));
        WriteEvent(output, "response.content_part.done", ResponsesEventJson("response.content_part.done", call.Index, itemId, NextSequence(), w =>
            {
                w.WritePropertyName("part"u8);
                WriteOutputText(w, text);
            }));
        WriteEvent(output, "response.output_item.done", ResponsesEventJson("response.output_item.done", call.Index, null, NextSequence(), w =>
            {
                w.WritePropertyName("item"u8);
                w.WriteRawValue(ResponsesMessage(call.Id, text, completed: true), skipInputValidation: true);
            }));
    }

    /// <summary>One event's JSON: its type, output index, item id (for content events), fields, sequence number.</summary>
    private static byte[] ResponsesEventJson(string type, int outputIndex, string? itemId, long sequence, Action<Utf8JsonWriter> fields)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type"u8, type);
            if (itemId is not null)
            {
                writer.WriteString("item_id"u8, itemId);
            }

            writer.WriteNumber("output_index"u8, outputIndex);
            if (itemId is not null)
            {
                writer.WriteNumber("content_index"u8, 0);
            }

            fields(writer);
            writer.WriteNumber("sequence_number"u8, sequence);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteEvent(IBufferWriter<byte> output, string type, ReadOnlySpan<byte> json)
    {
        output.Write("event: "u8);
        output.Write(System.Text.Encoding.UTF8.GetBytes(type));
        output.Write("\ndata: "u8);
        output.Write(json);
        output.Write("\n\n"u8);
    }

    private enum ResponsesEventKind : byte
    {
        Other,
        ItemAdded,
        ArgumentsDelta,
        ArgumentsDone,
        ItemDone,
        Final,
    }

    /// <summary>What one Responses stream event says about function calls.</summary>
    private readonly record struct ResponsesEvent(
        ResponsesEventKind Kind,
        string Type,
        int OutputIndex,
        long Sequence,
        OutputItem Item,
        byte[] Text,
        int ResponseStart,
        int ResponseEnd
    )
    {
        public static ResponsesEvent Read(ReadOnlySpan<byte> data)
        {
            var reader = new Utf8JsonReader(data);
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return new ResponsesEvent(ResponsesEventKind.Other, "", -1, 0, default, [], -1, -1);
            }

            var kind = ResponsesEventKind.Other;
            var type = "";
            int index = -1,
                responseStart = -1,
                responseEnd = -1;
            long sequence = 0;
            OutputItem item = default;
            byte[] text = [];
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    kind =
                        reader.ValueTextEquals("response.output_item.added"u8) ? ResponsesEventKind.ItemAdded
                        : reader.ValueTextEquals("response.function_call_arguments.delta"u8) ? ResponsesEventKind.ArgumentsDelta
                        : reader.ValueTextEquals("response.function_call_arguments.done"u8) ? ResponsesEventKind.ArgumentsDone
                        : reader.ValueTextEquals("response.output_item.done"u8) ? ResponsesEventKind.ItemDone
                        : reader.ValueTextEquals("response.completed"u8) || reader.ValueTextEquals("response.incomplete"u8) ? ResponsesEventKind.Final
                        : ResponsesEventKind.Other;
                    type = kind == ResponsesEventKind.Final ? reader.GetString() ?? "" : "";
                }
                else if (reader.ValueTextEquals("output_index"u8))
                {
                    index = JsonMember.Int32(ref reader, -1);
                }
                else if (reader.ValueTextEquals("sequence_number"u8))
                {
                    sequence = JsonMember.Int64(ref reader, 0);
                }
                else if (reader.ValueTextEquals("delta"u8))
                {
                    text = JsonMember.Utf8(ref reader);
                }
                else if (reader.ValueTextEquals("item"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartObject)
                    {
                        item = ReadOutputItem(ref reader);
                    }
                }
                else if (reader.ValueTextEquals("response"u8))
                {
                    (responseStart, responseEnd) = JsonMember.Range(ref reader);
                    continue;
                }
                else
                {
                    reader.Read();
                }

                reader.Skip();
            }

            return new ResponsesEvent(kind, type, index, sequence, item, text, responseStart, responseEnd);
        }
    }
}
