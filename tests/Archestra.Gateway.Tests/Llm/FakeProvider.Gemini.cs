using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>
/// The Gemini API under <see cref="GeminiBaseUrl"/>, in the wire format of ai.google.dev/api: <c>POST
/// {v1|v1beta}/models/{model}:generateContent</c> (a <c>GenerateContentResponse</c>: <c>candidates[].content.parts</c>,
/// <c>finishReason</c>, <c>usageMetadata</c>, <c>modelVersion</c>, <c>responseId</c>), <c>:streamGenerateContent?alt=sse</c>
/// (one response per <c>data:</c> event, CRLF line ends, no end marker: the last chunk carries the finishReason and the
/// usage), <c>:countTokens</c> (<c>{"totalTokens"}</c>), <c>GET models</c>, and errors as
/// <c>{"error":{"code","message","status"}}</c>. Models as for the other APIs: <c>fail-NNN</c>, <c>cut</c>,
/// <c>call-TOOL[+TOOL][--UNIQUE]</c> (the SDK puts the model in the URL unescaped, so no ':' or '#': a text part,
/// then one <c>functionCall</c> part per tool with the first user text as <c>args</c>); a request with
/// <c>generationConfig.responseJsonSchema</c> plays a dual-LLM role (its schema's <c>question</c> or <c>answer</c> property names it).
/// </summary>
internal sealed partial class FakeProvider
{
    public const string GeminiText = "Hello from the fake Gemini";

    /// <summary>The fake's Gemini usage: 30 prompt tokens (10 of them cached), 8 candidate tokens, 5 thought tokens.</summary>
    public const string GeminiUsage =
        """{"promptTokenCount":30,"candidatesTokenCount":8,"totalTokenCount":43,"cachedContentTokenCount":10,"thoughtsTokenCount":5"""
        + ""","promptTokensDetails":[{"modality":"TEXT","tokenCount":30}]}""";

    /// <summary>The Gemini SDK's base URL for this fake (requests go to <c>{base}/v1beta/models/...</c>).</summary>
    public Uri GeminiBaseUrl => new(BaseUrl, "/gemini");

    private void MapGemini(WebApplication app)
    {
        app.MapGet("/gemini/{version}/models", static (HttpContext c) =>
            c.Response.WriteAsync("""{"models":[{"name":"models/gemini-2.5-flash","displayName":"Gemini 2.5 Flash","inputTokenLimit":1048576}]}""")
        );
        app.MapPost("/gemini/{version}/models/{**call}", GenerateContentAsync);
    }

    private async Task GenerateContentAsync(HttpContext context)
    {
        var call = (string)context.Request.RouteValues["call"]!;
        var colon = call.IndexOf(':', StringComparison.Ordinal);
        var (model, action) = (call[..colon], call[(colon + 1)..]);
        var body = await ReadAsync(context, context.Request.Path + context.Request.QueryString);
        if (action == "countTokens")
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"totalTokens":42}""");
            return;
        }

        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        if (await GeminiFailAsync(context, Scripted(context, model)))
        {
            return;
        }

        string[] parts;
        if (
            root.TryGetProperty("generationConfig", out var config)
            && config.TryGetProperty("responseJsonSchema", out var schema)
            && schema.TryGetProperty("properties", out var properties)
            && (properties.TryGetProperty("question", out _) || properties.TryGetProperty("answer", out _))
        )
        {
            parts = [JsonSerializer.Serialize(new { text = Script(properties.TryGetProperty("question", out _) ? "question" : "answer", body) })];
        }
        else if (model.StartsWith("call-", StringComparison.Ordinal))
        {
            var args = FirstUserText(root) is { } text && text.TrimStart().StartsWith('{') && IsJson(text) ? text : "{}";
            var tools = model[5..].Split("--")[0].Split('+');
            parts =
            [
                JsonSerializer.Serialize(new { text = ToolPreamble }),
                .. tools.Select(t => $$$"""{"functionCall":{"name":"{{{t}}}","args":{{{args}}}}}"""),
            ];
        }
        else if (model.StartsWith("partial-call", StringComparison.Ordinal))
        {
            // Vertex AI's streamed function-call arguments (streamFunctionCallArguments): pieces in partialArgs.
            parts =
            [
                JsonSerializer.Serialize(new { text = ToolPreamble }),
                """{"functionCall":{"name":"send_mail","partialArgs":[{"jsonPath":"$.to","stringValue":"ann@"}],"willContinue":true}}""",
            ];
        }
        else
        {
            parts = [JsonSerializer.Serialize(new { text = GeminiText })];
        }

        if (action == "generateContent")
        {
            context.Response.ContentType = "application/json; charset=UTF-8";
            await context.Response.WriteAsync(GeminiResponse(model, parts, last: true));
            return;
        }

        // streamGenerateContent?alt=sse: the text of the first part in two chunks, then each further part in its own chunk.
        context.Response.ContentType = "text/event-stream";
        var first = JsonDocument.Parse(parts[0]).RootElement.GetProperty("text").GetString()!;
        var half = first.Length / 2;
        var chunks = new List<string>
        {
            GeminiResponse(model, [JsonSerializer.Serialize(new { text = first[..half] })], last: false),
            GeminiResponse(model, [JsonSerializer.Serialize(new { text = first[half..] })], last: parts.Length == 1),
        };
        for (var i = 1; i < parts.Length; i++)
        {
            chunks.Add(GeminiResponse(model, [parts[i]], last: i == parts.Length - 1));
        }

        for (var i = 0; i < chunks.Count; i++)
        {
            if (model == "cut" && i == 1)
            {
                await Task.Delay(200);
                context.Abort();
                return;
            }

            await context.Response.WriteAsync("data: " + chunks[i] + "\r\n\r\n");
            await context.Response.Body.FlushAsync();
        }
    }

    /// <summary>One <c>GenerateContentResponse</c>; the last one of an answer has the finishReason and the whole usage.</summary>
    private static string GeminiResponse(string model, string[] parts, bool last) =>
        "{\"candidates\":[{\"content\":{\"parts\":["
        + string.Join(",", parts)
        + "],\"role\":\"model\"}"
        + (last ? ",\"finishReason\":\"STOP\"" : "")
        + ",\"index\":0}],\"usageMetadata\":"
        + (last ? GeminiUsage : """{"promptTokenCount":30,"candidatesTokenCount":2,"totalTokenCount":32}""")
        + ",\"modelVersion\":\""
        + model
        + "\",\"responseId\":\"resp-fake-1\"}";

    private static string? FirstUserText(JsonElement root)
    {
        foreach (var content in root.GetProperty("contents").EnumerateArray())
        {
            if (content.TryGetProperty("role", out var role) && role.GetString() != "user")
            {
                continue;
            }

            foreach (var part in content.GetProperty("parts").EnumerateArray())
            {
                if (part.TryGetProperty("text", out var text))
                {
                    return text.GetString();
                }
            }
        }

        return null;
    }

    /// <summary>Google's error body (API design guide, "Errors"): the HTTP status, its message and canonical status name.</summary>
    private static async Task<bool> GeminiFailAsync(HttpContext context, string model)
    {
        (int Code, string Status, string Message)? failure = model switch
        {
            "fail-400" => (400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified"),
            "fail-401" => (401, "UNAUTHENTICATED", "API key not valid. Please pass a valid API key."),
            "fail-429" => (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
            "fail-500" => (500, "INTERNAL", "An internal error has occurred."),
            "fail-503" => (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
            _ => null,
        };
        if (failure is not { } f)
        {
            return false;
        }

        context.Response.StatusCode = f.Code;
        context.Response.ContentType = "application/json; charset=UTF-8";
        await context.Response.WriteAsync($$$"""{"error":{"code":{{{f.Code}}},"message":"{{{f.Message}}}","status":"{{{f.Status}}}"}}""");
        return true;
    }
}
