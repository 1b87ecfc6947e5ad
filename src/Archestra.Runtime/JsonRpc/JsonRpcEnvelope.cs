using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Archestra.Runtime.Buffers;

namespace Archestra.Runtime.JsonRpc;

/// <summary>A byte range inside a JSON-RPC message buffer.</summary>
public readonly record struct Slice(int Start, int Length)
{
    public bool IsEmpty => Length == 0;
    public int End => Start + Length;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<byte> Of(ReadOnlySpan<byte> buffer) => buffer.Slice(Start, Length);
}

public enum JsonRpcKind : byte
{
    Invalid,
    Request,
    Notification,
    Response,
    ErrorResponse,
}

/// <summary>Why a message could not be parsed as one JSON-RPC message.</summary>
public enum JsonRpcParseError : byte
{
    None,

    /// <summary>Not well-formed JSON (JSON-RPC -32700).</summary>
    MalformedJson,

    /// <summary>Well-formed JSON that is not a JSON-RPC 2.0 message (-32600).</summary>
    InvalidMessage,

    /// <summary>A JSON array: batches were removed from MCP in 2025-06-18 and the gateway does not take them (-32600).</summary>
    Batch,

    /// <summary>
    /// Well-formed JSON the gateway cannot decide on unambiguously: a repeated key, invalid UTF-8, or nesting too deep (<see
    /// cref="StrictJson"/>; -32700).
    /// </summary>
    Ambiguous,
}

/// <summary>
/// The parts of one JSON-RPC message the gateway routes on, as byte ranges into the original UTF-8
/// buffer. Parsing is one forward pass with <see cref="Utf8JsonReader"/> and allocates nothing; only
/// the ranges that need rewriting (id, params.name, params._meta.progressToken) are located, the rest
/// of the message is skipped and later copied as bytes.
/// </summary>
public struct JsonRpcEnvelope
{
    public JsonRpcKind Kind;

    /// <summary>The raw id value including quotes when it is a string (e.g. <c>17</c> or <c>"a-1"</c>).</summary>
    public Slice Id;

    /// <summary>The method name without quotes (still JSON-escaped when <see cref="MethodEscaped"/>).</summary>
    public Slice Method;
    public bool MethodEscaped;

    /// <summary>The whole params value (object or array).</summary>
    public Slice Params;

    /// <summary>params.name value including quotes (tools/call, prompts/get).</summary>
    public Slice ParamsName;

    /// <summary>params.uri value including quotes (resources/read, subscribe).</summary>
    public Slice ParamsUri;

    /// <summary>params._meta.progressToken value including quotes when a string; params.progressToken for notifications/progress.</summary>
    public Slice ProgressToken;

    /// <summary>params.requestId value for notifications/cancelled.</summary>
    public Slice RequestId;

    /// <summary>params.arguments value (tools/call).</summary>
    public Slice Arguments;
    public Slice Result;
    public Slice Error;

    /// <summary>The whole params._meta value, whatever its type (a modern request must carry an object).</summary>
    public Slice Meta;

    /// <summary>params._meta["io.modelcontextprotocol/protocolVersion"], any JSON value, including quotes when a string.</summary>
    public Slice MetaProtocolVersion;

    /// <summary>params._meta["io.modelcontextprotocol/clientCapabilities"], any JSON value.</summary>
    public Slice MetaClientCapabilities;

    /// <summary>params._meta["io.modelcontextprotocol/logLevel"], any JSON value.</summary>
    public Slice MetaLogLevel;

    public readonly bool IsRequest => Kind == JsonRpcKind.Request;
    public readonly bool IsResponse => Kind is JsonRpcKind.Response or JsonRpcKind.ErrorResponse;

    public readonly bool MethodIs(ReadOnlySpan<byte> buffer, ReadOnlySpan<byte> method) => !Method.IsEmpty && Method.Of(buffer).SequenceEqual(method);

    private static ReadOnlySpan<byte> JsonRpcProp => "jsonrpc"u8;
    private static ReadOnlySpan<byte> IdProp => "id"u8;
    private static ReadOnlySpan<byte> MethodProp => "method"u8;
    private static ReadOnlySpan<byte> ParamsProp => "params"u8;
    private static ReadOnlySpan<byte> ResultProp => "result"u8;
    private static ReadOnlySpan<byte> ErrorProp => "error"u8;
    private static ReadOnlySpan<byte> NameProp => "name"u8;
    private static ReadOnlySpan<byte> UriProp => "uri"u8;
    private static ReadOnlySpan<byte> MetaProp => "_meta"u8;
    private static ReadOnlySpan<byte> ProgressTokenProp => "progressToken"u8;
    private static ReadOnlySpan<byte> RequestIdProp => "requestId"u8;
    private static ReadOnlySpan<byte> ArgumentsProp => "arguments"u8;
    private static ReadOnlySpan<byte> ProtocolVersionMeta => "io.modelcontextprotocol/protocolVersion"u8;
    private static ReadOnlySpan<byte> ClientCapabilitiesMeta => "io.modelcontextprotocol/clientCapabilities"u8;
    private static ReadOnlySpan<byte> LogLevelMeta => "io.modelcontextprotocol/logLevel"u8;

    /// <summary>
    /// Parses one JSON-RPC 2.0 message that passes <see cref="StrictJson.Check"/> (checked in the same pass). Never
    /// throws for bad input. The envelope reads only the parts it routes on, but the whole message is forwarded, so
    /// all of it must mean the same to every parser downstream.
    /// </summary>
    public static JsonRpcParseError TryParse(ReadOnlySpan<byte> json, out JsonRpcEnvelope envelope) => TryParse(json, strict: true, out envelope);

    /// <summary>
    /// Parses without <see cref="StrictJson.Check"/>: only to find out which call an upstream answer refused by the
    /// strict parse belongs to, so that call fails at once instead of waiting for its timeout. Never route on it.
    /// </summary>
    public static JsonRpcParseError TryParseLenient(ReadOnlySpan<byte> json, out JsonRpcEnvelope envelope) => TryParse(json, strict: false, out envelope);

    // The reader's ~2.8 KB of inline key, name and frame space is written before it is read: zeroing it cost
    // ~65 ns of the ~500 ns parse of a small message (bench/README.md, "One reading of every message").
    [SkipLocalsInit]
    private static JsonRpcParseError TryParse(ReadOnlySpan<byte> json, bool strict, out JsonRpcEnvelope envelope)
    {
        envelope = default;
        var reader = new StrictJsonReader(
            json,
            StrictJson.MessageMaxDepth,
            strict,
            stackalloc StrictJsonReader.Key[strict ? StrictJsonReader.InlineKeys : 0],
            stackalloc byte[strict ? StrictJsonReader.InlineNameBytes : 0],
            stackalloc int[strict ? StrictJsonReader.Frames(StrictJson.MessageMaxDepth) : 0]
        );
        try
        {
            // Parse reads the whole message on every path, so the strict findings are complete when it returns.
            // Malformed text stays malformed; otherwise ambiguity outranks what Parse thought of the message.
            var error = Parse(json, ref reader, ref envelope);
            if (error != JsonRpcParseError.MalformedJson && !reader.Finish().IsValid)
            {
                envelope = default;
                return JsonRpcParseError.Ambiguous;
            }

            return error;
        }
        catch (JsonException)
        {
            envelope = default;
            return reader.Found.Error == StrictJsonError.TooDeep ? JsonRpcParseError.Ambiguous : JsonRpcParseError.MalformedJson;
        }
        catch (InvalidOperationException)
        {
            // ValueTextEquals unescapes a compared name or value: a lone surrogate escape there throws before the
            // strict bookkeeping sees the token (found by the request fuzzer as a 500: "jsonrpc":"2.0\ud800").
            envelope = default;
            return strict ? JsonRpcParseError.Ambiguous : JsonRpcParseError.MalformedJson;
        }
        finally
        {
            reader.Dispose();
        }
    }

    /// <summary>Parses a message held in a (possibly multi-segment) sequence; ranges are offsets into the sequence.</summary>
    public static JsonRpcParseError TryParse(in ReadOnlySequence<byte> json, out JsonRpcEnvelope envelope)
    {
        if (json.IsSingleSegment)
        {
            return TryParse(json.FirstSpan, out envelope);
        }

        // Multi-segment bodies are rare (large requests); flatten once into a pooled buffer.
        var length = checked((int)json.Length);
        var rented = BytePool.Rent(length);
        try
        {
            json.CopyTo(rented);
            return TryParse(rented.AsSpan(0, length), out envelope);
        }
        finally
        {
            BytePool.Return(rented);
        }
    }

    private static JsonRpcParseError Parse(ReadOnlySpan<byte> json, ref StrictJsonReader reader, ref JsonRpcEnvelope e)
    {
        if (!reader.Read())
        {
            return JsonRpcParseError.MalformedJson;
        }

        if (reader.TokenType == JsonTokenType.StartArray)
        {
            // Validate the rest so that a malformed batch is still reported as a parse error.
            reader.Skip();
            return reader.Read() ? JsonRpcParseError.MalformedJson : JsonRpcParseError.Batch;
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return reader.Read() ? JsonRpcParseError.MalformedJson : JsonRpcParseError.InvalidMessage;
        }

        var versionOk = false;
        var invalid = false;
        var hasId = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals(JsonRpcProp))
            {
                reader.Read();
                versionOk = reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("2.0"u8);
            }
            else if (reader.ValueTextEquals(IdProp))
            {
                reader.Read();
                switch (reader.TokenType)
                {
                    case JsonTokenType.String:
                    case JsonTokenType.Number:
                        e.Id = ValueSlice(ref reader);
                        hasId = true;
                        break;
                    case JsonTokenType.Null:
                        // A null id appears only on error responses to unparseable requests.
                        e.Id = ValueSlice(ref reader);
                        hasId = true;
                        break;
                    default:
                        reader.Skip();
                        invalid = true;
                        break;
                }
            }
            else if (reader.ValueTextEquals(MethodProp))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                {
                    reader.Skip();
                    invalid = true;
                }
                else
                {
                    e.Method = new Slice((int)reader.TokenStartIndex + 1, reader.ValueSpan.Length);
                    e.MethodEscaped = reader.ValueIsEscaped;
                }
            }
            else if (reader.ValueTextEquals(ParamsProp))
            {
                reader.Read();
                var start = (int)reader.TokenStartIndex;
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    ParseParams(ref reader, ref e);
                }
                else if (reader.TokenType == JsonTokenType.StartArray)
                {
                    reader.Skip();
                }
                else
                {
                    invalid = true;
                }

                e.Params = new Slice(start, (int)reader.BytesConsumed - start);
            }
            else if (reader.ValueTextEquals(ResultProp))
            {
                reader.Read();
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                e.Result = new Slice(start, (int)reader.BytesConsumed - start);
            }
            else if (reader.ValueTextEquals(ErrorProp))
            {
                reader.Read();
                var start = (int)reader.TokenStartIndex;
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    invalid = true;
                }

                reader.Skip();
                e.Error = new Slice(start, (int)reader.BytesConsumed - start);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        // Trailing content after the object is a parse error, not a second message.
        if (reader.Read())
        {
            return JsonRpcParseError.MalformedJson;
        }

        if (!versionOk || invalid)
        {
            return JsonRpcParseError.InvalidMessage;
        }

        if (!e.Method.IsEmpty || e.MethodEscaped)
        {
            if (!e.Result.IsEmpty || !e.Error.IsEmpty)
            {
                return JsonRpcParseError.InvalidMessage;
            }

            if (hasId && json[e.Id.Start] == (byte)'n')
            {
                return JsonRpcParseError.InvalidMessage;
            }

            e.Kind = hasId ? JsonRpcKind.Request : JsonRpcKind.Notification;
            return JsonRpcParseError.None;
        }

        if (!hasId || e.Result.IsEmpty == e.Error.IsEmpty)
        {
            return JsonRpcParseError.InvalidMessage;
        }

        e.Kind = e.Error.IsEmpty ? JsonRpcKind.Response : JsonRpcKind.ErrorResponse;
        return JsonRpcParseError.None;
    }

    private static void ParseParams(ref StrictJsonReader reader, ref JsonRpcEnvelope e)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals(NameProp))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.String)
                {
                    e.ParamsName = ValueSlice(ref reader);
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals(UriProp))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.String)
                {
                    e.ParamsUri = ValueSlice(ref reader);
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals(ArgumentsProp))
            {
                reader.Read();
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                e.Arguments = new Slice(start, (int)reader.BytesConsumed - start);
            }
            else if (reader.ValueTextEquals(ProgressTokenProp))
            {
                // notifications/progress carries the token directly in params.
                reader.Read();
                if (reader.TokenType is JsonTokenType.String or JsonTokenType.Number)
                {
                    e.ProgressToken = ValueSlice(ref reader);
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals(RequestIdProp))
            {
                reader.Read();
                if (reader.TokenType is JsonTokenType.String or JsonTokenType.Number)
                {
                    e.RequestId = ValueSlice(ref reader);
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals(MetaProp))
            {
                reader.Read();
                var metaStart = (int)reader.TokenStartIndex;
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                    e.Meta = new Slice(metaStart, (int)reader.BytesConsumed - metaStart);
                    continue;
                }

                ParseMeta(ref reader, ref e);
                e.Meta = new Slice(metaStart, (int)reader.BytesConsumed - metaStart);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    private static void ParseMeta(ref StrictJsonReader reader, ref JsonRpcEnvelope e)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals(ProgressTokenProp))
            {
                reader.Read();
                if (reader.TokenType is JsonTokenType.String or JsonTokenType.Number)
                {
                    e.ProgressToken = ValueSlice(ref reader);
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals(ProtocolVersionMeta))
            {
                e.MetaProtocolVersion = AnyValueSlice(ref reader);
            }
            else if (reader.ValueTextEquals(ClientCapabilitiesMeta))
            {
                e.MetaClientCapabilities = AnyValueSlice(ref reader);
            }
            else if (reader.ValueTextEquals(LogLevelMeta))
            {
                e.MetaLogLevel = AnyValueSlice(ref reader);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    /// <summary>Reads the value after the current property name and returns its whole range (object, array or scalar).</summary>
    private static Slice AnyValueSlice(ref StrictJsonReader reader)
    {
        reader.Read();
        var start = (int)reader.TokenStartIndex;
        reader.Skip();
        return new Slice(start, (int)reader.BytesConsumed - start);
    }

    /// <summary>The range of the current scalar token including the quotes of a string.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Slice ValueSlice(ref StrictJsonReader reader)
    {
        var start = (int)reader.TokenStartIndex;
        return new Slice(start, (int)reader.BytesConsumed - start);
    }
}
