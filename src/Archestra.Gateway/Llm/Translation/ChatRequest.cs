using System.Text.Json;

namespace Archestra.Gateway.Llm.Translation;

/// <summary>One content part of a chat message: text, or an image by URL (a <c>data:</c> URL or http(s)).</summary>
internal readonly record struct ChatPart(string? Text, string? ImageUrl);

/// <summary>An assistant's tool call: its id, the function and the arguments' JSON text.</summary>
internal readonly record struct ChatCall(string Id, string Name, string Arguments);

/// <summary>One message: role <c>system</c> (also <c>developer</c>), <c>user</c>, <c>assistant</c> or <c>tool</c>.</summary>
internal sealed record ChatMessage(string Role, List<ChatPart> Parts, List<ChatCall> Calls, string? ToolCallId);

/// <summary>A function the model may call: name, description and the JSON schema of its parameters (raw JSON).</summary>
internal readonly record struct ChatTool(string Name, string? Description, string? Parameters);

/// <summary>
/// An OpenAI chat completions request read for translation to another provider's API (the unified endpoint): every
/// member is either carried into <see cref="ChatRequest"/> or refused with the field it names, so nothing the client
/// asked for is dropped without a word.
/// </summary>
internal sealed class ChatRequest
{
    // The members the translators carry (or refuse for a provider without an equivalent); any other is refused here.
    private static readonly string[] s_known =
    [
        "model",
        "messages",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "response_format",
        "n",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "user",
    ];

    public List<ChatMessage> Messages { get; } = [];

    public List<ChatTool> Tools { get; } = [];

    /// <summary><c>auto</c>, <c>none</c>, <c>required</c>, or <c>function</c> with <see cref="ToolChoiceName"/>; null when not given.</summary>
    public string? ToolChoice { get; private set; }

    public string? ToolChoiceName { get; private set; }

    public bool? ParallelToolCalls { get; private set; }

    public bool Stream { get; private set; }

    public bool IncludeUsage { get; private set; }

    public long? MaxTokens { get; private set; }

    /// <summary>Numbers kept as their JSON text, written unchanged.</summary>
    public string? Temperature { get; private set; }

    public string? TopP { get; private set; }

    public string? PresencePenalty { get; private set; }

    public string? FrequencyPenalty { get; private set; }

    public string? Seed { get; private set; }

    public string? User { get; private set; }

    public List<string> Stop { get; } = [];

    /// <summary><c>text</c>, <c>json_object</c> or <c>json_schema</c> (with <see cref="JsonSchema"/>); null when not given.</summary>
    public string? ResponseFormat { get; private set; }

    public string? JsonSchema { get; private set; }

    /// <summary>Members given that a target must translate or refuse (with <see cref="Refuse"/>).</summary>
    public HashSet<string> Given { get; } = new(StringComparer.Ordinal);

    /// <summary>The 400 message for a member the target provider has no equivalent for.</summary>
    public static string Refuse(string field, string provider) => $"{field} cannot be translated to the {provider} API; leave it out or call an OpenAI model";

    /// <summary>Reads <paramref name="root"/>; null with a message naming the field when the request cannot be translated.</summary>
    public static ChatRequest? Read(JsonElement root, out string? error)
    {
        var request = new ChatRequest();
        error = null;
        foreach (var property in root.EnumerateObject())
        {
            if (Array.IndexOf(s_known, property.Name) < 0)
            {
                error = $"{property.Name} cannot be translated to another provider's API";
                return null;
            }

            if (property.Value.ValueKind != JsonValueKind.Null)
            {
                request.Given.Add(property.Name);
            }
        }

        error = request.ReadMembers(root);
        return error is null ? request : null;
    }

    private string? ReadMembers(JsonElement root)
    {
        if (!root.TryGetProperty("messages"u8, out var messages) || messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
        {
            return "messages must be a non-empty array";
        }

        var index = 0;
        foreach (var message in messages.EnumerateArray())
        {
            if (ReadMessage(message, $"messages[{index++}]") is { } error)
            {
                return error;
            }
        }

        Stream = root.TryGetProperty("stream"u8, out var stream) && stream.ValueKind == JsonValueKind.True;
        IncludeUsage =
            root.TryGetProperty("stream_options"u8, out var options)
            && options.ValueKind == JsonValueKind.Object
            && options.TryGetProperty("include_usage"u8, out var include)
            && include.ValueKind == JsonValueKind.True;
        MaxTokens = Long(root, "max_completion_tokens") ?? Long(root, "max_tokens");
        Temperature = Number(root, "temperature");
        TopP = Number(root, "top_p");
        PresencePenalty = Number(root, "presence_penalty");
        FrequencyPenalty = Number(root, "frequency_penalty");
        Seed = Number(root, "seed");
        User = root.TryGetProperty("user"u8, out var user) && user.ValueKind == JsonValueKind.String ? user.GetString() : null;
        if (root.TryGetProperty("n"u8, out var n) && n.ValueKind != JsonValueKind.Null && !(n.TryGetInt32(out var count) && count == 1))
        {
            return "n other than 1 cannot be translated to another provider's API";
        }

        if (root.TryGetProperty("parallel_tool_calls"u8, out var parallel) && parallel.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            ParallelToolCalls = parallel.GetBoolean();
        }

        if (root.TryGetProperty("stop"u8, out var stop))
        {
            if (stop.ValueKind == JsonValueKind.String)
            {
                Stop.Add(stop.GetString()!);
            }
            else if (stop.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in stop.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.String)
                    {
                        return "stop must be a string or an array of strings";
                    }

                    Stop.Add(item.GetString()!);
                }
            }
        }

        return ReadTools(root) ?? ReadToolChoice(root) ?? ReadResponseFormat(root);
    }

    private string? ReadMessage(JsonElement message, string at)
    {
        if (message.ValueKind != JsonValueKind.Object || Str(message, "role") is not { } role)
        {
            return $"{at} must be an object with a role";
        }

        if (role == "developer")
        {
            role = "system";
        }

        if (role is not ("system" or "user" or "assistant" or "tool"))
        {
            return $"{at}.role '{role}' cannot be translated to another provider's API";
        }

        foreach (var property in message.EnumerateObject())
        {
            if (property.Name is not ("role" or "content" or "tool_calls" or "tool_call_id") && property.Value.ValueKind != JsonValueKind.Null)
            {
                return $"{at}.{property.Name} cannot be translated to another provider's API";
            }
        }

        var parts = new List<ChatPart>();
        var calls = new List<ChatCall>();
        if (message.TryGetProperty("content"u8, out var content))
        {
            if (content.ValueKind == JsonValueKind.String)
            {
                parts.Add(new ChatPart(content.GetString(), null));
            }
            else if (content.ValueKind == JsonValueKind.Array)
            {
                var i = 0;
                foreach (var part in content.EnumerateArray())
                {
                    var partAt = $"{at}.content[{i++}]";
                    var type = part.ValueKind == JsonValueKind.Object ? Str(part, "type") : null;
                    if (type == "text" && Str(part, "text") is { } text)
                    {
                        parts.Add(new ChatPart(text, null));
                    }
                    else if (
                        type == "image_url"
                        && role == "user"
                        && part.TryGetProperty("image_url"u8, out var image)
                        && image.ValueKind == JsonValueKind.Object
                        && Str(image, "url") is { } url
                    )
                    {
                        parts.Add(new ChatPart(null, url));
                    }
                    else
                    {
                        return $"{partAt} (type {type ?? "missing"}) cannot be translated to another provider's API";
                    }
                }
            }
            else if (content.ValueKind != JsonValueKind.Null)
            {
                return $"{at}.content must be a string or an array of content parts";
            }
        }

        if (message.TryGetProperty("tool_calls"u8, out var toolCalls) && toolCalls.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var call in toolCalls.EnumerateArray())
            {
                var callAt = $"{at}.tool_calls[{i++}]";
                if (
                    role != "assistant"
                    || Str(call, "id") is not { } id
                    || !call.TryGetProperty("function"u8, out var function)
                    || Str(function, "name") is not { } name
                )
                {
                    return $"{callAt} must be an assistant's function call with an id and a name";
                }

                var arguments = Str(function, "arguments") is { Length: > 0 } a ? a : "{}";
                if (!IsObject(arguments))
                {
                    return $"{callAt}.function.arguments must be a JSON object to be translated to another provider's API";
                }

                calls.Add(new ChatCall(id, name, arguments));
            }
        }

        var toolCallId = Str(message, "tool_call_id");
        if (role == "tool" && toolCallId is null)
        {
            return $"{at} is a tool message without a tool_call_id";
        }

        Messages.Add(new ChatMessage(role, parts, calls, toolCallId));
        return null;
    }

    private string? ReadTools(JsonElement root)
    {
        if (!root.TryGetProperty("tools"u8, out var tools) || tools.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        var i = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            var at = $"tools[{i++}]";
            if (Str(tool, "type") != "function" || !tool.TryGetProperty("function"u8, out var function) || Str(function, "name") is not { } name)
            {
                return $"{at} cannot be translated to another provider's API: only function tools can";
            }

            if (function.TryGetProperty("strict"u8, out var strict) && strict.ValueKind == JsonValueKind.True)
            {
                return $"{at}.function.strict cannot be translated to another provider's API";
            }

            var parameters = function.TryGetProperty("parameters"u8, out var p) && p.ValueKind == JsonValueKind.Object ? p.GetRawText() : null;
            Tools.Add(new ChatTool(name, Str(function, "description"), parameters));
        }

        return null;
    }

    private string? ReadToolChoice(JsonElement root)
    {
        if (!root.TryGetProperty("tool_choice"u8, out var choice) || choice.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (choice.ValueKind == JsonValueKind.String && choice.GetString() is "auto" or "none" or "required")
        {
            ToolChoice = choice.GetString();
            return null;
        }

        if (
            choice.ValueKind == JsonValueKind.Object
            && Str(choice, "type") == "function"
            && choice.TryGetProperty("function"u8, out var function)
            && Str(function, "name") is { } name
        )
        {
            (ToolChoice, ToolChoiceName) = ("function", name);
            return null;
        }

        return "tool_choice cannot be translated to another provider's API: use auto, none, required or a function";
    }

    private string? ReadResponseFormat(JsonElement root)
    {
        if (!root.TryGetProperty("response_format"u8, out var format) || format.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        ResponseFormat = Str(format, "type");
        if (ResponseFormat == "json_schema")
        {
            if (
                !format.TryGetProperty("json_schema"u8, out var schema)
                || !schema.TryGetProperty("schema"u8, out var body)
                || body.ValueKind != JsonValueKind.Object
            )
            {
                return "response_format.json_schema.schema must be an object";
            }

            JsonSchema = body.GetRawText();
        }

        return ResponseFormat is "text" or "json_object" or "json_schema" ? null : "response_format.type must be text, json_object or json_schema";
    }

    /// <summary>
    /// The function a tool message answers: the assistant call with its id, the last one when an id repeats, as the
    /// history's results are judged (<see cref="LlmHistory"/>), so the provider is told the tool the policies judged.
    /// </summary>
    public string? FunctionOf(string callId)
    {
        string? name = null;
        foreach (var message in Messages)
        {
            foreach (var call in message.Calls)
            {
                if (call.Id == callId)
                {
                    name = call.Name;
                }
            }
        }

        return name;
    }

    /// <summary>The text parts of a message, joined (system messages and tool results).</summary>
    public static string Text(ChatMessage message) => string.Concat(message.Parts.Where(p => p.Text is not null).Select(p => p.Text));

    private static bool IsObject(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return document.RootElement.ValueKind == JsonValueKind.Object;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    internal static string? Str(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    private static long? Long(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n) ? n : null;

    private static string? Number(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetRawText() : null;

    /// <summary>A <c>data:</c> URL's media type and base64 payload; null for any other URL.</summary>
    public static (string MediaType, string Data)? DataUrl(string url)
    {
        if (!url.StartsWith("data:", StringComparison.Ordinal))
        {
            return null;
        }

        var comma = url.IndexOf(',', StringComparison.Ordinal);
        var header = comma < 0 ? "" : url[5..comma];
        return header.EndsWith(";base64", StringComparison.Ordinal) ? (header[..^7], url[(comma + 1)..]) : null;
    }
}
