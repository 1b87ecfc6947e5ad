using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>
/// OpenAI API reference › Embeddings › "Create embeddings" (<c>POST /v1/embeddings</c>): <c>input</c> is a string, an
/// array of strings, an array of token ids or an array of such arrays; <c>encoding_format</c> is <c>float</c> (the
/// default: each <c>embedding</c> a JSON array of numbers) or <c>base64</c> (each <c>embedding</c> the base64 of the
/// vector's little-endian float32 bytes, which the official SDKs ask for and decode); <c>dimensions</c> sets the length.
/// The answer is <c>{"object":"list","data":[{"object":"embedding","index","embedding"}],"model","usage":{"prompt_tokens",
/// "total_tokens"}}</c>. The fake's vector for input i is <see cref="Vector"/>; its usage counts one token per
/// whitespace-separated word (or per token id).
/// </summary>
internal sealed partial class FakeProvider
{
    /// <summary>The length of a vector when the request names no <c>dimensions</c>.</summary>
    public const int EmbeddingDimensions = 4;

    /// <summary>The fake's embedding of input <paramref name="index"/>: exact binary fractions, so float32 keeps them whole.</summary>
    public static float[] Vector(int index, int dimensions = EmbeddingDimensions) =>
        [.. Enumerable.Range(0, dimensions).Select(d => (index + 1) * 0.5f + d * 0.25f - 1f)];

    private void MapEmbeddings(WebApplication app) => app.MapPost("/v1/embeddings", EmbeddingsAsync);

    private async Task EmbeddingsAsync(HttpContext context)
    {
        var body = await ReadAsync(context, "/v1/embeddings");
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        var model = root.GetProperty("model").GetString()!;
        if (await FailAsync(context, Scripted(context, model), openAi: true))
        {
            return;
        }

        var base64 = root.TryGetProperty("encoding_format", out var format) && format.ValueKind == JsonValueKind.String && format.GetString() == "base64";
        var dimensions = root.TryGetProperty("dimensions", out var d) && d.ValueKind == JsonValueKind.Number ? d.GetInt32() : EmbeddingDimensions;
        var inputs = root.GetProperty("input") switch
        {
            { ValueKind: JsonValueKind.Array } list when list.GetArrayLength() > 0 && list[0].ValueKind != JsonValueKind.Number => list.EnumerateArray()
                .ToList(),
            var one => [one],
        };

        var text = new StringBuilder("""{"object":"list","data":[""");
        var tokens = 0;
        for (var i = 0; i < inputs.Count; i++)
        {
            tokens +=
                inputs[i].ValueKind == JsonValueKind.Array
                    ? inputs[i].GetArrayLength()
                    : inputs[i].GetString()!.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
            var vector = Vector(i, dimensions);
            string embedding;
            if (base64)
            {
                var bytes = new byte[vector.Length * 4];
                for (var k = 0; k < vector.Length; k++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(k * 4), vector[k]);
                }

                embedding = $"\"{Convert.ToBase64String(bytes)}\"";
            }
            else
            {
                embedding = "[" + string.Join(",", vector.Select(v => v.ToString("R", CultureInfo.InvariantCulture))) + "]";
            }

            text.Append(i == 0 ? "" : ",").Append(CultureInfo.InvariantCulture, $$"""{"object":"embedding","index":{{i}},"embedding":{{embedding}}}""");
        }

        text.Append(CultureInfo.InvariantCulture, $$$"""],"model":"{{{model}}}","usage":{"prompt_tokens":{{{tokens}}},"total_tokens":{{{tokens}}}}}""");
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(text.ToString());
    }
}
