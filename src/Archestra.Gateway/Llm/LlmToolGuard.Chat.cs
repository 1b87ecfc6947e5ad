using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Archestra.Gateway.Llm;

/// <summary>
/// OpenAI chat completions: a whole answer's <c>choices[*].message.tool_calls</c>, and in a stream the chunks of a tool
/// call, held until the call is complete (the next call index of its choice, a finish reason or <c>[DONE]</c>).
/// </summary>
internal sealed partial class LlmToolGuard
{
    private readonly List<Held> _held = [];
    private readonly Dictionary<int, (int Kept, int Refused)> _choices = [];
    private byte[]? _envelope;

    /// <summary>One event held back: as it came, and its data (for rewriting a finish reason).</summary>
    private sealed record Held(byte[] Event, byte[] Data, bool Tool, List<(int Choice, int Start, int End)>? Finishes, string? Text, int TextChoice);

    // ---- whole answers ----

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
        int finishStart = -1,
            finishEnd = -1;
        int objectStart = -1,
            contentStart = -1,
            contentEnd = -1,
            callsName = -1,
            callsStart = -1,
            callsEnd = -1;
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

    // ---- streamed chunks ----

    private void RelayChat(ReadOnlySpan<byte> evt, ReadOnlySpan<byte> data, IBufferWriter<byte> output)
    {
        if (data.SequenceEqual("[DONE]"u8))
        {
            ReleaseChat(output, force: true);
            output.Write(evt);
            return;
        }

        if (data.IsEmpty || (_held.Count == 0 && _choices.Count == 0 && data.IndexOf("tool_calls"u8) < 0))
        {
            output.Write(evt);
            return;
        }

        var chunk = new ChatChunk();
        chunk.Read(data, ref _envelope);

        if (chunk.Deltas.Count == 0)
        {
            if (chunk.Finishes is null)
            {
                output.Write(evt);
                return;
            }

            CompleteChoices(chunk.Finishes);
            ReleaseChat(output, force: false);
            if (_held.Count > 0)
            {
                _held.Add(new Held(evt.ToArray(), data.ToArray(), false, chunk.Finishes, null, 0));
            }
            else
            {
                WriteWithFinish(evt, data, chunk.Finishes, output);
            }

            return;
        }

        foreach (var delta in chunk.Deltas)
        {
            var call = _calls.Find(c => c.Choice == delta.Choice && c.Index == delta.Index);
            if (call is null)
            {
                foreach (var other in _calls)
                {
                    other.Complete |= other.Choice == delta.Choice;
                }

                ReleaseChat(output, force: false);
                call = new StreamCall(delta.Choice, delta.Index);
                _calls.Add(call);
            }

            if (delta.Id is { } id)
            {
                call.Id = id;
            }

            call.Name.Append(delta.Name);
            call.Arguments.Write(delta.Arguments);
        }

        _held.Add(new Held(evt.ToArray(), data.ToArray(), true, chunk.Finishes, chunk.Text, chunk.TextChoice));
        if (chunk.Finishes is not null)
        {
            CompleteChoices(chunk.Finishes);
            ReleaseChat(output, force: false);
        }
    }

    private void CompleteChoices(List<(int Choice, int Start, int End)> finishes)
    {
        foreach (var call in _calls)
        {
            foreach (var finish in finishes)
            {
                call.Complete |= call.Choice == finish.Choice;
            }
        }
    }

    /// <summary>
    /// Decides and releases the held events once every call they carry is complete (or at the end). All allowed:
    /// they go out as they came. Otherwise the allowed calls go out whole, one chunk each, and each refused call as
    /// a content chunk with its explanation (after any text that was held with it).
    /// </summary>
    private void ReleaseChat(IBufferWriter<byte> output, bool force)
    {
        if (_held.Count == 0)
        {
            _calls.Clear();
            return;
        }

        foreach (var call in _calls)
        {
            if (!call.Complete && !force)
            {
                return;
            }
        }

        var anyRefused = false;
        foreach (var call in _calls)
        {
            call.Refusal = Decide(call.Name.ToString(), call.Arguments.WrittenSpan);
            var counts = _choices.GetValueOrDefault(call.Choice);
            _choices[call.Choice] = call.Refusal is null ? (counts.Kept + 1, counts.Refused) : (counts.Kept, counts.Refused + 1);
            anyRefused |= call.Refusal is not null;
        }

        var replaced = false;
        foreach (var held in _held)
        {
            if (!held.Tool || !anyRefused)
            {
                WriteWithFinish(held.Event, held.Data, held.Finishes, output);
                continue;
            }

            if (!replaced)
            {
                replaced = true;
                WriteReplacements(output);
            }

            if (held.Finishes is not null)
            {
                foreach (var finish in held.Finishes)
                {
                    WriteChunk(output, finish.Choice, null, FinishFor(finish.Choice));
                }
            }
        }

        _held.Clear();
        _calls.Clear();
    }

    private void WriteReplacements(IBufferWriter<byte> output)
    {
        foreach (var call in _calls)
        {
            if (call.Refusal is null)
            {
                WriteChunk(output, call.Choice, call, null);
            }
        }

        // One content chunk per choice: the text held with its calls, then the explanations.
        var written = new HashSet<int>();
        foreach (var call in _calls)
        {
            if (call.Refusal is null || !written.Add(call.Choice))
            {
                continue;
            }

            var text = new StringBuilder();
            foreach (var held in _held)
            {
                if (held.Text is { } t && held.TextChoice == call.Choice)
                {
                    text.Append(t);
                }
            }

            foreach (var refused in _calls)
            {
                if (refused.Choice == call.Choice && refused.Refusal is { } r)
                {
                    text.Append(text.Length > 0 ? "\n\n" : "").Append(r);
                }
            }

            WriteChunk(output, call.Choice, null, null, text.ToString());
        }
    }

    private string FinishFor(int choice) => _choices.TryGetValue(choice, out var counts) && counts.Refused > 0 && counts.Kept == 0 ? "stop" : "tool_calls";

    /// <summary>Writes an event, with <c>finish_reason</c> <c>tool_calls</c> made <c>stop</c> for a choice whose calls were all refused.</summary>
    private void WriteWithFinish(ReadOnlySpan<byte> evt, ReadOnlySpan<byte> data, List<(int Choice, int Start, int End)>? finishes, IBufferWriter<byte> output)
    {
        List<Edit>? edits = null;
        if (finishes is not null)
        {
            foreach (var finish in finishes)
            {
                var value = data[finish.Start..finish.End];
                if (FinishFor(finish.Choice) == "stop" && (value.SequenceEqual("\"tool_calls\""u8) || value.SequenceEqual("\"function_call\""u8)))
                {
                    (edits ??= []).Add(new Edit(finish.Start, finish.End, "\"stop\""u8.ToArray()));
                }
            }
        }

        if (edits is null)
        {
            output.Write(evt);
            return;
        }

        output.Write("data: "u8);
        output.Write(Apply(data, edits));
        output.Write("\n\n"u8);
    }

    /// <summary>A chunk of its own: one allowed call whole, a content text, or a finish reason.</summary>
    private void WriteChunk(IBufferWriter<byte> output, int choice, StreamCall? call, string? finish, string? content = null)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            writer.WriteStartObject();
            writer.WriteNumber("index"u8, choice);
            writer.WriteStartObject("delta"u8);
            if (content is not null)
            {
                writer.WriteString("role"u8, "assistant"u8);
                writer.WriteString("content"u8, content);
            }

            if (call is not null)
            {
                writer.WriteStartArray("tool_calls"u8);
                writer.WriteStartObject();
                writer.WriteNumber("index"u8, call.Index);
                writer.WriteString("id"u8, call.Id);
                writer.WriteString("type"u8, "function"u8);
                writer.WriteStartObject("function"u8);
                writer.WriteString("name"u8, call.Name.ToString());
                writer.WriteString("arguments"u8, call.Arguments.WrittenSpan);
                writer.WriteEndObject();
                writer.WriteEndObject();
                writer.WriteEndArray();
            }

            writer.WriteEndObject();
            writer.WriteNull("logprobs"u8);
            writer.WriteString("finish_reason"u8, finish);

            writer.WriteEndObject();
            writer.WriteEndArray();
        }

        output.Write("data: {"u8);
        if (_envelope is { Length: > 0 } envelope)
        {
            output.Write(envelope);
            output.Write(","u8);
        }

        output.Write("\"choices\":"u8);
        output.Write(buffer.WrittenSpan);
        output.Write("}\n\n"u8);
    }

    /// <summary>What one chat chunk says about tool calls, finish reasons and text.</summary>
    private sealed class ChatChunk
    {
        public List<(int Choice, int Index, string? Id, string? Name, byte[] Arguments)> Deltas { get; } = [];

        public List<(int Choice, int Start, int End)>? Finishes { get; private set; }

        public string? Text { get; private set; }

        public int TextChoice { get; private set; }

        /// <summary>Reads the chunk; the first time, keeps its envelope (id, object, created, model, system_fingerprint) for chunks of our own.</summary>
        public void Read(ReadOnlySpan<byte> data, ref byte[]? envelope)
        {
            var reader = new Utf8JsonReader(data);
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return;
            }

            var keep = envelope is null ? new ArrayBufferWriter<byte>() : null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var nameStart = (int)reader.TokenStartIndex;
                if (
                    keep is not null
                    && (
                        reader.ValueTextEquals("id"u8)
                        || reader.ValueTextEquals("object"u8)
                        || reader.ValueTextEquals("created"u8)
                        || reader.ValueTextEquals("model"u8)
                        || reader.ValueTextEquals("system_fingerprint"u8)
                    )
                )
                {
                    JsonMember.SkipValue(ref reader);
                    if (keep.WrittenCount > 0)
                    {
                        keep.Write(","u8);
                    }

                    keep.Write(data[nameStart..(int)reader.BytesConsumed]);
                    continue;
                }

                if (!JsonMember.Enter(ref reader, "choices"u8, JsonTokenType.StartArray))
                {
                    continue;
                }

                while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
                {
                    ReadChoice(ref reader);
                }
            }

            if (keep is not null)
            {
                envelope = keep.WrittenSpan.ToArray();
            }
        }

        private void ReadChoice(ref Utf8JsonReader reader)
        {
            var choice = 0;
            int finishStart = -1,
                finishEnd = -1;
            var firstDelta = Deltas.Count;
            string? text = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("index"u8))
                {
                    choice = JsonMember.Int32(ref reader, 0);
                }
                else if (reader.ValueTextEquals("finish_reason"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        finishStart = (int)reader.TokenStartIndex;
                        finishEnd = (int)reader.BytesConsumed;
                    }

                    reader.Skip();
                }
                else if (reader.ValueTextEquals("delta"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        reader.Skip();
                        continue;
                    }

                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        if (reader.ValueTextEquals("content"u8))
                        {
                            text = JsonMember.String(ref reader);
                        }
                        else if (reader.ValueTextEquals("tool_calls"u8))
                        {
                            reader.Read();
                            ReadToolCalls(ref reader);
                        }
                        else
                        {
                            JsonMember.SkipValue(ref reader);
                        }
                    }
                }
                else
                {
                    JsonMember.SkipValue(ref reader);
                }
            }

            // The choice index may follow the delta in the object.
            for (var d = firstDelta; d < Deltas.Count; d++)
            {
                Deltas[d] = Deltas[d] with { Choice = choice };
            }

            if (finishStart >= 0)
            {
                (Finishes ??= []).Add((choice, finishStart, finishEnd));
            }

            if (text is { Length: > 0 })
            {
                Text = text;
                TextChoice = choice;
            }
        }

        private void ReadToolCalls(ref Utf8JsonReader reader)
        {
            if (reader.TokenType != JsonTokenType.StartArray)
            {
                reader.Skip();
                return;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                var index = 0;
                string? id = null,
                    name = null;
                byte[] arguments = [];
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals("index"u8))
                    {
                        index = JsonMember.Int32(ref reader, 0);
                    }
                    else if (reader.ValueTextEquals("id"u8))
                    {
                        id = JsonMember.String(ref reader);
                    }
                    else if (reader.ValueTextEquals("function"u8))
                    {
                        reader.Read();
                        if (reader.TokenType == JsonTokenType.StartObject)
                        {
                            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                            {
                                if (reader.ValueTextEquals("name"u8))
                                {
                                    name = JsonMember.String(ref reader);
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
                        else
                        {
                            reader.Skip();
                        }

                        continue;
                    }
                    else
                    {
                        reader.Read();
                    }

                    reader.Skip();
                }

                Deltas.Add((0, index, id, name, arguments));
            }
        }
    }
}
