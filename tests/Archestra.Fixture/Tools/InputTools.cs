using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using static ModelContextProtocol.Protocol.ElicitRequestParams;

namespace Archestra.Fixture.Tools;

/// <summary>
/// The multi-round-trip tools and prompt of the 2026-07-28 scenarios input-required-result-* (SEP-2322): each asks with
/// <see cref="InputRequiredException"/> and completes when the retry carries the answers (and its sealed state). A modern
/// request gets the <c>input_required</c> result itself; in a 2025 session the SDK sends the same questions as real
/// elicitation/sampling/roots requests and runs the handler again with the answers, so the gateway's translation sees them.
/// </summary>
internal static class InputTools
{
    private const string NoArguments = """{"type":"object","properties":{}}""";

    /// <summary>Seals requestState: a process-wide key, so a state survives stateless requests but not a restart.</summary>
    private static readonly byte[] s_stateKey = RandomNumberGenerator.GetBytes(32);

    public static readonly FixtureTool[] Tools =
    [
        new("test_input_required_result_elicitation", "Asks the user's name (input_required with elicitation/create)", NoArguments, ElicitationAsync),
        new("test_input_required_result_sampling", "Asks the model a question (input_required with sampling/createMessage)", NoArguments, SamplingAsync),
        new("test_input_required_result_list_roots", "Asks for the client's roots (input_required with roots/list)", NoArguments, ListRootsAsync),
        new("test_input_required_result_request_state", "Asks for a confirmation with a sealed requestState", NoArguments, RequestStateAsync),
        new("test_input_required_result_multiple_inputs", "Asks elicitation, sampling and roots at once", NoArguments, MultipleAsync),
        new("test_input_required_result_multi_round", "Asks twice, one question per round", NoArguments, MultiRoundAsync),
        new("test_input_required_result_tampered_state", "Asks with a sealed requestState and refuses an altered one", NoArguments, RequestStateAsync),
        new("test_input_required_result_capabilities", "Asks only what the client's capabilities allow", NoArguments, CapabilitiesAsync),
    ];

    public static readonly Prompt Prompt = new()
    {
        Name = "test_input_required_result_prompt",
        Description = "Asks the user for context (input_required with elicitation/create) before it is rendered",
    };

    public static GetPromptResult GetPrompt(GetPromptRequestParams request)
    {
        if (Field(request, "user_context", "context") is not { ValueKind: JsonValueKind.String } context)
        {
            throw Ask(("user_context", Elicit("What context should the prompt use?", ("context", new StringSchema()))));
        }

        var text = new TextContentBlock { Text = $"Use this context: {context.GetString()}" };
        return new GetPromptResult { Messages = [new PromptMessage { Role = Role.User, Content = text }] };
    }

    private static ValueTask<CallToolResult> ElicitationAsync(ToolCall call)
    {
        // A wrong key, a declined form or no name is asked again (SEP-2322: re-request what is missing); extra keys are ignored.
        return Field(call.Request.Params, "user_name", "name") is { ValueKind: JsonValueKind.String } name
            ? Done($"Hello, {name.GetString()}!")
            : throw Ask(("user_name", Elicit("What is your name?", ("name", new StringSchema()))));
    }

    private static ValueTask<CallToolResult> SamplingAsync(ToolCall call) =>
        Sampled(call.Request.Params, "capital_question") is { } answer
            ? Done($"The model answered: {answer}")
            : throw Ask(("capital_question", Sample("What is the capital of France?", 100)));

    private static ValueTask<CallToolResult> ListRootsAsync(ToolCall call) =>
        Roots(call.Request.Params, "client_roots") is { } roots
            ? Done($"The client has {roots.Count} root(s): {string.Join(", ", roots.Select(static r => r.Uri))}")
            : throw Ask(("client_roots", InputRequest.ForRootsList(new ListRootsRequestParams())));

    private static ValueTask<CallToolResult> RequestStateAsync(ToolCall call)
    {
        var tool = call.Request.Params!.Name;
        if (Opened(call.Request.Params, tool) is not null && Field(call.Request.Params, "confirm", "ok") is { } ok)
        {
            return Done($"state-ok: the requestState was issued for {tool} and is intact; ok={ok.GetRawText()}");
        }

        var confirm = Elicit("Please confirm", ("ok", new BooleanSchema()));
        throw Ask(Seal(tool, "confirm"), ("confirm", confirm));
    }

    private static ValueTask<CallToolResult> MultipleAsync(ToolCall call)
    {
        var p = call.Request.Params;
        if (
            Opened(p, p!.Name) is not null
            && Field(p, "user_name", "name") is { ValueKind: JsonValueKind.String } name
            && Sampled(p, "greeting") is { } greeting
            && Roots(p, "client_roots") is { } roots
        )
        {
            return Done($"All three answers: name={name.GetString()}, greeting={greeting}, roots={roots.Count}");
        }

        throw Ask(
            Seal(p.Name, "all"),
            ("user_name", Elicit("What is your name?", ("name", new StringSchema()))),
            ("greeting", Sample("Generate a greeting", 50)),
            ("client_roots", InputRequest.ForRootsList(new ListRootsRequestParams()))
        );
    }

    private static ValueTask<CallToolResult> MultiRoundAsync(ToolCall call)
    {
        var p = call.Request.Params!;
        var step1 = Elicit("Step 1: What is your name?", ("name", new StringSchema()));
        // The state names the round it was issued for and, from round 2 on, the name given in round 1.
        switch (Opened(p, p.Name)?.Split('|', 2))
        {
            case ["step1"] when Field(p, "step1", "name") is { ValueKind: JsonValueKind.String } name:
                throw Ask(Seal(p.Name, $"step2|{name.GetString()}"), ("step2", Elicit("Step 2: What is your favorite color?", ("color", new StringSchema()))));
            case ["step2", var known] when Field(p, "step2", "color") is { ValueKind: JsonValueKind.String } color:
                return Done($"{known}'s favorite color is {color.GetString()}");
            case ["step2", _]:
                throw Ask(p.RequestState, ("step2", Elicit("Step 2: What is your favorite color?", ("color", new StringSchema()))));
            default:
                throw Ask(Seal(p.Name, "step1"), ("step1", step1));
        }
    }

    private static ValueTask<CallToolResult> CapabilitiesAsync(ToolCall call)
    {
        var p = call.Request.Params!;
        if (Sampled(p, "sampling") is { } answer)
        {
            return Done($"The model answered: {answer}");
        }

        if (Accepted(p, "elicitation") is { } content)
        {
            return Done($"The user answered: {JsonSerializer.Serialize(content, McpJsonUtilities.DefaultOptions)}");
        }

        // Only what the client declared: the request's _meta for a 2026-07-28 request, else the session's initialize.
        var (sampling, elicitation) = call.Declared;
        return sampling ? throw Ask(("sampling", Sample("What is the capital of France?", 100)))
            : elicitation ? throw Ask(("elicitation", Elicit("What is your name?", ("name", new StringSchema()))))
            : Done("The client declared neither sampling nor elicitation, so nothing was asked.");
    }

    /// <summary>The content of an accepted elicitation under <paramref name="key"/>; null when absent, declined or malformed.</summary>
    private static IDictionary<string, JsonElement>? Accepted(RequestParams? request, string key) =>
        Response(request, key, InputResponse.ElicitResultJsonTypeInfo) is { Action: "accept", Content: { } content } ? content : null;

    /// <summary>One field of an accepted elicitation's content.</summary>
    private static JsonElement? Field(RequestParams? request, string key, string field) =>
        Accepted(request, key) is { } content && content.TryGetValue(field, out var value) ? value : null;

    private static string? Sampled(RequestParams? request, string key) =>
        Response(request, key, InputResponse.CreateMessageResultJsonTypeInfo)?.Content is { } content
            ? string.Concat(content.OfType<TextContentBlock>().Select(static t => t.Text))
            : null;

    private static IList<Root>? Roots(RequestParams? request, string key) => Response(request, key, InputResponse.ListRootsResultJsonTypeInfo)?.Roots;

    private static T? Response<T>(RequestParams? request, string key, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        where T : class
    {
        if (request?.InputResponses is not { } responses || !responses.TryGetValue(key, out var response))
        {
            return null;
        }

        try
        {
            return response.Deserialize(type);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static InputRequest Elicit(string message, (string Name, PrimitiveSchemaDefinition Schema) field) =>
        InputRequest.ForElicitation(
            new ElicitRequestParams
            {
                Message = message,
                RequestedSchema = new RequestSchema
                {
                    Properties = new Dictionary<string, PrimitiveSchemaDefinition> { [field.Name] = field.Schema },
                    Required = [field.Name],
                },
            }
        );

    private static InputRequest Sample(string question, int maxTokens) =>
        InputRequest.ForSampling(
            new CreateMessageRequestParams
            {
                Messages = [new SamplingMessage { Role = Role.User, Content = [new TextContentBlock { Text = question }] }],
                MaxTokens = maxTokens,
            }
        );

    public static InputRequiredException Ask(params (string Key, InputRequest Request)[] requests) => Ask(null, requests);

    private static InputRequiredException Ask(string? state, params (string Key, InputRequest Request)[] requests) =>
        new(requests.ToDictionary(static r => r.Key, static r => r.Request, StringComparer.Ordinal), state);

    /// <summary>requestState: base64url(tool NUL payload) "." base64url(HMAC-SHA256 of it).</summary>
    private static string Seal(string tool, string payload)
    {
        var body = Encoding.UTF8.GetBytes($"{tool}\0{payload}");
        return $"{Base64Url(body)}.{Base64Url(HMACSHA256.HashData(s_stateKey, body))}";
    }

    /// <summary>
    /// The payload of the retry's requestState, null when it has none; an altered state, or one sealed for another tool,
    /// is refused with -32602 (SEP-2322: the server must verify state it relies on).
    /// </summary>
    private static string? Opened(RequestParams? request, string tool)
    {
        if (request?.RequestState is not { } state)
        {
            return null;
        }

        var dot = state.IndexOf('.', StringComparison.Ordinal);
        byte[] body,
            mac;
        try
        {
            body = dot < 0 ? [] : Convert.FromBase64String(FromBase64Url(state[..dot]));
            mac = dot < 0 ? [] : Convert.FromBase64String(FromBase64Url(state[(dot + 1)..]));
        }
        catch (FormatException)
        {
            body = mac = [];
        }

        var prefix = Encoding.UTF8.GetBytes($"{tool}\0");
        if (mac.Length != 32 || !CryptographicOperations.FixedTimeEquals(mac, HMACSHA256.HashData(s_stateKey, body)) || !body.AsSpan().StartsWith(prefix))
        {
            throw new McpProtocolException(
                "Invalid params: requestState failed its integrity check (altered, or not issued for this tool)",
                McpErrorCode.InvalidParams
            );
        }

        return Encoding.UTF8.GetString(body.AsSpan(prefix.Length));
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string FromBase64Url(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        return s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '=');
    }

    private static ValueTask<CallToolResult> Done(string text) => ValueTask.FromResult(new CallToolResult { Content = [new TextContentBlock { Text = text }] });
}
