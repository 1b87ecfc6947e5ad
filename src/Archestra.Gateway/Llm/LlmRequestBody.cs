using System.Net;
using System.Text.Json;
using Archestra.Runtime.JsonRpc;

namespace Archestra.Gateway.Llm;

/// <summary>
/// The few fields the proxy reads from a request body (<c>model</c>, <c>stream</c>, <c>stream_options</c>,
/// whether <c>tools</c> is a non-empty array), and at most two splices: one that makes an OpenAI chat stream carry
/// usage, and one that replaces the <c>model</c> value when an optimization rule picks another model. The body is
/// never re-serialized.
/// </summary>
internal readonly struct LlmRequestBody
{
    /// <summary>The nesting limit for request bodies: <see cref="JsonReaderOptions.MaxDepth"/>'s default, which the reader below has always used.</summary>
    public const int MaxDepth = 64;

    public string? Model { get; init; }

    public bool Stream { get; init; }

    /// <summary>The client asked for the usage chunk itself (<c>stream_options.include_usage: true</c>).</summary>
    public bool ClientIncludesUsage { get; init; }

    /// <summary>Where to splice: remove <see cref="SpliceRemove"/> bytes at <see cref="SpliceAt"/>, insert <see cref="SpliceKind"/>'s text.</summary>
    public int SpliceAt { get; init; }

    public int SpliceRemove { get; init; }

    public SpliceKind SpliceKind { get; init; }

    /// <summary>The <c>model</c> string token (quotes included) in the body; -1 when there is none.</summary>
    public int ModelAt { get; init; }

    public int ModelLength { get; init; }

    /// <summary>The request offers the model tools (a non-empty <c>tools</c> array).</summary>
    public bool HasTools { get; init; }

    /// <summary>The JSON string (quotes included) that replaces the model token upstream; null to keep it.</summary>
    public byte[]? ModelReplacement { get; init; }

    /// <summary>This body with its <c>model</c> value replaced by <paramref name="model"/> upstream (<see cref="Model"/> stays the client's).</summary>
    public LlmRequestBody WithModel(string model)
    {
        var encoded = JsonEncodedText.Encode(model).EncodedUtf8Bytes;
        var text = new byte[encoded.Length + 2];
        text[0] = text[^1] = (byte)'"';
        encoded.CopyTo(text.AsSpan(1));
        return this with { ModelReplacement = text };
    }

    /// <summary>
    /// Reads <paramref name="json"/> (a whole request body). False when it is not a JSON object, or when
    /// <c>model</c> or <c>stream</c> has the wrong type (the provider would refuse it too, so the message can be ours).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> json, bool wantUsage, out LlmRequestBody body, out string? error)
    {
        body = default;
        error = null;
        string? model = null;
        var stream = false;
        var includeUsage = false;
        var hasTools = false;
        int modelAt = -1,
            modelLength = 0;
        int optionsStart = -1,
            optionsValueStart = -1,
            optionsValueLength = 0,
            rootEnd = -1;
        var optionsEmpty = true;
        var optionsIsNull = false;

        // The proxy decides on this body (model, tool results, budgets) and the provider reads it again: both must
        // read the same values (StrictJson). Malformed JSON is left to the reader below for its own message.
        if (StrictJson.Ambiguity(json, MaxDepth) is { } ambiguity)
        {
            error = ambiguity;
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "the request body must be a JSON object";
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("model"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        error = "model must be a string";
                        return false;
                    }

                    model = reader.GetString();
                    modelAt = (int)reader.TokenStartIndex;
                    modelLength = (int)(reader.BytesConsumed - reader.TokenStartIndex);
                }
                else if (reader.ValueTextEquals("tools"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartArray)
                    {
                        // Empty when only whitespace lies between the brackets.
                        var open = (int)reader.TokenStartIndex;
                        reader.Skip();
                        hasTools = !json[(open + 1)..(int)reader.TokenStartIndex].Trim(" \t\r\n"u8).IsEmpty;
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
                else if (reader.ValueTextEquals("stream"u8))
                {
                    reader.Read();
                    if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null))
                    {
                        error = "stream must be a boolean";
                        return false;
                    }

                    stream = reader.TokenType == JsonTokenType.True;
                }
                else if (reader.ValueTextEquals("stream_options"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        optionsIsNull = true;
                        optionsStart = (int)reader.TokenStartIndex;
                        continue;
                    }

                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        reader.Skip();
                        continue;
                    }

                    optionsStart = (int)reader.TokenStartIndex;
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        optionsEmpty = false;
                        var isIncludeUsage = reader.ValueTextEquals("include_usage"u8);
                        reader.Read();
                        if (isIncludeUsage)
                        {
                            includeUsage = reader.TokenType == JsonTokenType.True;
                            optionsValueStart = (int)reader.TokenStartIndex;
                            optionsValueLength = (int)(reader.BytesConsumed - reader.TokenStartIndex);
                        }

                        reader.Skip();
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject || reader.CurrentDepth != 0)
            {
                error = "the request body must be a JSON object";
                return false;
            }

            rootEnd = (int)reader.TokenStartIndex;
            if (reader.Read())
            {
                error = "the request body must hold exactly one JSON object";
                return false;
            }
        }
        catch (JsonException ex)
        {
            error = $"the request body is not valid JSON: {ex.Message}";
            return false;
        }
        catch (InvalidOperationException)
        {
            // GetString on a malformed body (StrictJson reports it as malformed, not as its bad bytes) whose model
            // is not UTF-8 or escapes a lone surrogate.
            error = "the request body is not valid JSON: a string is not valid UTF-8 or escapes a lone surrogate";
            return false;
        }

        body = new LlmRequestBody
        {
            Model = model,
            Stream = stream,
            ClientIncludesUsage = includeUsage,
            ModelAt = modelAt,
            ModelLength = modelLength,
            HasTools = hasTools,
        };
        if (!wantUsage || !stream || includeUsage)
        {
            return true;
        }

        // One splice, so the rest of the body goes upstream byte for byte.
        body =
            optionsStart < 0 ? body with { SpliceAt = rootEnd, SpliceKind = SpliceKind.AddStreamOptions }
            : optionsIsNull ? body with { SpliceAt = optionsStart, SpliceRemove = 4, SpliceKind = SpliceKind.ReplaceNullOptions }
            : optionsValueStart >= 0 ? body with { SpliceAt = optionsValueStart, SpliceRemove = optionsValueLength, SpliceKind = SpliceKind.ReplaceValue }
            : body with { SpliceAt = optionsStart + 1, SpliceKind = optionsEmpty ? SpliceKind.AddIncludeUsageAlone : SpliceKind.AddIncludeUsage };
        return true;
    }

    /// <summary>True when the proxy asked the upstream for a usage chunk the client did not ask for.</summary>
    public bool InjectedUsage => SpliceKind != SpliceKind.None;

    public ReadOnlyMemory<byte> SpliceText => s_splices[(int)SpliceKind];

    // By SpliceKind; arrays rather than u8 literals because the content writes them asynchronously.
    private static readonly byte[][] s_splices =
    [
        [],
        ",\"stream_options\":{\"include_usage\":true}"u8.ToArray(),
        "\"include_usage\":true,"u8.ToArray(),
        "\"include_usage\":true"u8.ToArray(),
        "true"u8.ToArray(),
        "{\"include_usage\":true}"u8.ToArray(),
    ];
}

internal enum SpliceKind : byte
{
    None,
    AddStreamOptions,
    AddIncludeUsage,
    AddIncludeUsageAlone,
    ReplaceValue,
    ReplaceNullOptions,
}

/// <summary>
/// The request body as the upstream gets it: the client's bytes (a pooled buffer the caller keeps alive until the
/// send completes) with the one splice applied, written in three pieces without building a new array.
/// </summary>
internal sealed class LlmRequestContent : HttpContent
{
    private readonly ReadOnlyMemory<byte> _body;
    private readonly LlmRequestBody _parsed;

    public LlmRequestContent(ReadOnlyMemory<byte> body, in LlmRequestBody parsed, string? contentType)
    {
        _body = body;
        _parsed = parsed;
        Headers.TryAddWithoutValidation("Content-Type", contentType ?? "application/json");
    }

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        if (!_parsed.InjectedUsage && _parsed.ModelReplacement is null)
        {
            await stream.WriteAsync(_body, cancellationToken).ConfigureAwait(false);
            return;
        }

        // The splices never overlap (the model token and stream_options are different members): write in body order.
        var (first, second) = Splices();
        var at = 0;
        if (first.At >= 0)
        {
            await stream.WriteAsync(_body[at..first.At], cancellationToken).ConfigureAwait(false);
            await stream.WriteAsync(first.Text, cancellationToken).ConfigureAwait(false);
            at = first.At + first.Remove;
        }

        if (second.At >= 0)
        {
            await stream.WriteAsync(_body[at..second.At], cancellationToken).ConfigureAwait(false);
            await stream.WriteAsync(second.Text, cancellationToken).ConfigureAwait(false);
            at = second.At + second.Remove;
        }

        await stream.WriteAsync(_body[at..], cancellationToken).ConfigureAwait(false);
    }

    private ((int At, int Remove, ReadOnlyMemory<byte> Text) First, (int At, int Remove, ReadOnlyMemory<byte> Text) Second) Splices()
    {
        (int, int, ReadOnlyMemory<byte>) usage = _parsed.InjectedUsage ? (_parsed.SpliceAt, _parsed.SpliceRemove, _parsed.SpliceText) : (-1, 0, default);
        (int, int, ReadOnlyMemory<byte>) model = _parsed.ModelReplacement is { } text ? (_parsed.ModelAt, _parsed.ModelLength, text) : (-1, 0, default);
        return usage.Item1 >= 0 && model.Item1 >= 0 && usage.Item1 < model.Item1 ? (usage, model) : (model, usage);
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        length = _body.Length - _parsed.SpliceRemove + _parsed.SpliceText.Length;
        if (_parsed.ModelReplacement is { } model)
        {
            length += model.Length - _parsed.ModelLength;
        }

        return true;
    }
}
