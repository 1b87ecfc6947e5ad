using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>
/// The LLM path decides on the same values the provider and the agent's SDK read: a request body that JSON parsers
/// may read two ways is refused before the provider, and a tool call whose arguments repeat a key is never handed to
/// the agent (the policy would read one copy, the SDK may run the other). The fake model <c>call:TOOL</c> calls TOOL
/// with the first user message as its arguments, so the user message chooses what the "model" answers.
/// </summary>
public sealed class AmbiguousJsonLlmTests(ToolGuardFixture fixture) : IClassFixture<ToolGuardFixture>
{
    /// <summary>no-delete blocks repo "prod-*"; the first copy is harmless, the second is not.</summary>
    private const string TwoRepos = """{"repo":"scratch","repo":"prod-billing"}""";

    private static readonly HttpClient Http = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Model([System.Runtime.CompilerServices.CallerMemberName] string test = "") =>
        $"call:delete_repo#{test.GetHashCode(StringComparison.Ordinal):x8}";

    private async Task<(HttpStatusCode Status, string Body)> PostAsync(string path, byte[] body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(fixture.Gateway.BaseUrl, path)) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ToolGuardFixture.VirtualKey);
        request.Headers.Add("x-api-key", ToolGuardFixture.VirtualKey);
        request.Headers.Add("anthropic-version", "2023-06-01");
        using var response = await Http.SendAsync(request, Ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
    }

    private Task<(HttpStatusCode Status, string Body)> PostAsync(string path, string body) => PostAsync(path, Encoding.UTF8.GetBytes(body));

    [Theory]
    [InlineData(
        "/v1/openai/agent/chat/completions",
        """{"model":"gpt-4o-mini","model":"o1-pro","messages":[{"role":"user","content":"hi"}]}""",
        "the key \"model\" appears twice in the object at $;"
    )]
    [InlineData(
        "/v1/anthropic/agent/v1/messages",
        """{"model":"claude-haiku-4-5","max_tokens":5,"messages":[{"role":"user","content":"hi","content":"other"}]}""",
        "the key \"content\" appears twice in the object at $.messages[0];"
    )]
    [InlineData(
        "/v1/openai/agent/chat/completions",
        """{"model":"m","messages":[{"role":"tool","tool_call_id":"a","tool_call_id":"b","content":"x"}]}""",
        "the key \"tool_call_id\" appears twice"
    )]
    public async Task A_request_body_with_a_repeated_key_is_refused_in_the_providers_format_before_the_provider(string path, string body, string why)
    {
        var (status, text) = await PostAsync(path, body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        using var json = JsonDocument.Parse(text);
        var error = json.RootElement.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Contains(why, error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_body_with_invalid_utf8_is_refused_with_400()
    {
        var head = Encoding.UTF8.GetBytes("""{"model":"m","messages":[{"role":"user","content":"a""");
        var (status, text) = await PostAsync("/v1/openai/agent/chat/completions", [.. head, 0xFF, .. "\"}]}"u8.ToArray()]);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains($"not valid UTF-8 (or escapes a lone surrogate) at byte {head.Length}", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tool_call_whose_arguments_repeat_a_key_is_replaced_by_an_explanation_and_audited()
    {
        var model = Model();
        var chat = new ChatClient(
            model,
            new ApiKeyCredential(ToolGuardFixture.VirtualKey),
            new OpenAIClientOptions { Endpoint = fixture.OpenAiBase("agent"), RetryPolicy = new ClientRetryPolicy(0) }
        );
        var options = new ChatCompletionOptions();
        options.Tools.Add(ChatTool.CreateFunctionTool("delete_repo", "deletes", BinaryData.FromString("""{"type":"object"}""")));

        var completion = (await chat.CompleteChatAsync([new UserChatMessage(TwoRepos)], options, Ct)).Value;

        Assert.Empty(completion.ToolCalls);
        Assert.Contains(
            "[Archestra] The call to the tool delete_repo was not made: its arguments cannot be checked (the key \"repo\" appears twice in the object at $;",
            completion.Content[0].Text,
            StringComparison.Ordinal
        );
        var row = Assert.Single(await fixture.AuditAsync(model));
        Assert.Equal("blocked tool calls: delete_repo (ambiguous arguments)", row.Error);
    }

    [Fact]
    public async Task A_streamed_tool_call_whose_arguments_repeat_a_key_never_reaches_the_sdk()
    {
        var chat = new ChatClient(
            Model(),
            new ApiKeyCredential(ToolGuardFixture.VirtualKey),
            new OpenAIClientOptions { Endpoint = fixture.OpenAiBase("agent"), RetryPolicy = new ClientRetryPolicy(0) }
        );
        var options = new ChatCompletionOptions();
        options.Tools.Add(ChatTool.CreateFunctionTool("delete_repo", "deletes", BinaryData.FromString("""{"type":"object"}""")));

        var text = new StringBuilder();
        var calls = 0;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage(TwoRepos)], options, Ct))
        {
            calls += update.ToolCallUpdates.Count;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }
        }

        Assert.Equal(0, calls);
        Assert.Contains("its arguments cannot be checked (the key \"repo\" appears twice", text.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_streamed_anthropic_tool_use_whose_input_repeats_a_key_becomes_text()
    {
        var body = $$$"""
            {"model":"{{{Model()}}}","max_tokens":50,"stream":true,"tools":[{"name":"delete_repo","input_schema":{"type":"object"}}],
             "messages":[{"role":"user","content":{{{JsonSerializer.Serialize(TwoRepos)}}}}]}
            """;
        var (status, text) = await PostAsync("/v1/anthropic/agent/v1/messages", body);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.DoesNotContain("\"tool_use\"", text, StringComparison.Ordinal);
        Assert.Contains("its arguments cannot be checked", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_anthropic_answer_that_repeats_a_key_is_not_relayed_and_says_why()
    {
        // Not streamed, the fake writes the input object into the answer as it is: the whole answer repeats "repo".
        var body = $$$"""
            {"model":"{{{Model()}}}","max_tokens":50,"tools":[{"name":"delete_repo","input_schema":{"type":"object"}}],
             "messages":[{"role":"user","content":{{{JsonSerializer.Serialize(TwoRepos)}}}}]}
            """;
        var (status, text) = await PostAsync("/v1/anthropic/agent/v1/messages", body);
        Assert.Equal(HttpStatusCode.BadGateway, status);
        using var json = JsonDocument.Parse(text);
        Assert.Equal("api_error", json.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains(
            "The provider's answer was not relayed: the key \"repo\" appears twice in the object at $.content[1].input",
            json.RootElement.GetProperty("error").GetProperty("message").GetString(),
            StringComparison.Ordinal
        );
        Assert.DoesNotContain("prod-billing", text, StringComparison.Ordinal);
    }
}
