using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp.Modern;

/// <summary>
/// The C# conformance fixture (ModelContextProtocol 2.4.0) over stdio, used in its 2025 revision, called by raw 2026-07-28
/// requests: its multi-round tool asks twice in one call, its multiple-input tool three things at once and its prompt once
/// while rendering (the SDK sends each question as a real request), and its diagnostic tool answers -32021 when the
/// request's _meta lacks a capability.
/// </summary>
public sealed class ModernFixtureInputTests : IAsyncLifetime
{
    private const string Tool = "test_input_required_result_multi_round";

    private const string Elicits =
        "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{\"elicitation\":{}}}";

    private static readonly HttpClient Http = new();
    private GatewayHarness _gateway = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                McpServers = [GatewayHarness.Stdio("fixture", "dotnet", Repo.FixtureDll, "--stdio")],
                Profiles = [GatewayHarness.Profile("f", "fixture")],
            }
        );
    }

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private Task<(int Status, JsonElement Message)> CallAsync(int id, string tool, string retry = "", string meta = Elicits) =>
        ModernRaw.SendAsync(
            Http,
            ModernRaw.Post(_gateway.McpUrl("f"), ModernRaw.Body(id, "tools/call", $"\"name\":\"{tool}\",\"arguments\":{{}}{retry}", meta), "tools/call", tool)
        );

    private static string Retry(string state, string key, string field, string value) =>
        $",\"requestState\":\"{state}\",\"inputResponses\":{{\"{key}\":{{\"action\":\"accept\",\"content\":{{\"{field}\":\"{value}\"}}}}}}";

    private static (string Key, string Message, string State) Asked(JsonElement message)
    {
        var result = message.GetProperty("result");
        Assert.True(result.GetProperty("resultType").GetString() == "input_required", message.ToString());
        var request = Assert.Single(result.GetProperty("inputRequests").EnumerateObject());
        Assert.Equal("elicitation/create", request.Value.GetProperty("method").GetString());
        return (request.Name, request.Value.GetProperty("params").GetProperty("message").GetString()!, result.GetProperty("requestState").GetString()!);
    }

    [Fact]
    public async Task Each_round_of_a_held_call_has_its_own_state_and_an_earlier_rounds_state_is_refused_without_reaching_the_server()
    {
        var (_, first) = await CallAsync(1, Tool);
        var round1 = Asked(first);
        Assert.Equal("Step 1: What is your name?", round1.Message);

        var (_, second) = await CallAsync(2, Tool, Retry(round1.State, round1.Key, "name", "Ada"));
        var round2 = Asked(second);
        Assert.Equal("Step 2: What is your favorite color?", round2.Message);
        Assert.NotEqual(round1.State, round2.State);

        // Round 1's state, sealed for the same call and not expired, once the server has asked again: refused with the reason.
        var (status, stale) = await CallAsync(3, Tool, Retry(round1.State, round2.Key, "color", "red"));
        Assert.Equal(200, status);
        Assert.Equal(-32602, RawMcp.ErrorCode(stale));
        Assert.Contains("earlier round", RawMcp.ErrorMessage(stale), StringComparison.Ordinal);

        // The latest state still finishes the call: the refused retry's answer never reached the server.
        var (_, done) = await CallAsync(4, Tool, Retry(round2.State, round2.Key, "color", "blue"));
        var result = done.GetProperty("result");
        Assert.Equal("complete", result.GetProperty("resultType").GetString());
        Assert.Equal("Ada's favorite color is blue", result.GetProperty("content")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task A_2025_servers_request_during_prompts_get_becomes_input_required_and_the_retry_gets_the_prompt()
    {
        const string prompt = "test_input_required_result_prompt";
        Task<(int, JsonElement)> GetAsync(int id, string retry = "") =>
            ModernRaw.SendAsync(
                Http,
                ModernRaw.Post(_gateway.McpUrl("f"), ModernRaw.Body(id, "prompts/get", $"\"name\":\"{prompt}\"{retry}", Elicits), "prompts/get", prompt)
            );

        // A tool call's state, issued by this gateway for this profile with the same (no) arguments, finished first: over
        // stdio a server's question can only be told apart while its call is the one in flight.
        const string elicits = "test_input_required_result_elicitation";
        var (_, toolFirst) = await CallAsync(1, elicits);
        var toolState = Asked(toolFirst);
        var (_, toolDone) = await CallAsync(2, elicits, Retry(toolState.State, toolState.Key, "name", "Ada"));
        Assert.Equal("Hello, Ada!", toolDone.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString());

        var (_, first) = await GetAsync(3);
        var asked = Asked(first);
        Assert.Equal("What context should the prompt use?", asked.Message);

        // The tool call's state does not open the prompt's continuation.
        var (_, crossed) = await GetAsync(4, Retry(toolState.State, asked.Key, "context", "stolen"));
        Assert.Equal(-32602, RawMcp.ErrorCode(crossed));
        Assert.Contains("was not issued by this gateway for this call", RawMcp.ErrorMessage(crossed), StringComparison.Ordinal);

        var (_, done) = await GetAsync(5, Retry(asked.State, asked.Key, "context", "the 1969 landing"));
        var result = done.GetProperty("result");
        Assert.Equal("complete", result.GetProperty("resultType").GetString());
        Assert.Equal("Use this context: the 1969 landing", result.GetProperty("messages")[0].GetProperty("content").GetProperty("text").GetString());
    }

    [Fact]
    public async Task Questions_a_2025_server_asks_together_reach_the_modern_client_in_one_input_required_and_one_retry_answers_them_all()
    {
        const string tool = "test_input_required_result_multiple_inputs";
        const string everything =
            "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
            + "\"io.modelcontextprotocol/clientCapabilities\":{\"elicitation\":{},\"sampling\":{},\"roots\":{}}}";
        var (_, first) = await CallAsync(1, tool, meta: everything);
        var result = first.GetProperty("result");
        Assert.True(result.GetProperty("resultType").GetString() == "input_required", first.ToString());
        var asked = result.GetProperty("inputRequests").EnumerateObject().ToDictionary(r => r.Value.GetProperty("method").GetString()!, r => r.Name);
        Assert.Equal(["elicitation/create", "roots/list", "sampling/createMessage"], asked.Keys.Order(StringComparer.Ordinal));

        var answers =
            $"\"{asked["elicitation/create"]}\":{{\"action\":\"accept\",\"content\":{{\"name\":\"Ada\"}}}},"
            + $"\"{asked["sampling/createMessage"]}\":{{\"role\":\"assistant\",\"content\":{{\"type\":\"text\",\"text\":\"Hello\"}},\"model\":\"m\"}},"
            + $"\"{asked["roots/list"]}\":{{\"roots\":[{{\"uri\":\"file:///srv\"}}]}}";
        var retry = $",\"requestState\":\"{result.GetProperty("requestState").GetString()}\",\"inputResponses\":{{{answers}}}";
        var (_, done) = await CallAsync(2, tool, retry, everything);
        Assert.Equal(
            "All three answers: name=Ada, greeting=Hello, roots=1",
            done.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString()
        );
    }

    [Fact]
    public async Task A_servers_missing_capability_error_reaches_a_modern_client_as_http_400_and_other_errors_stay_200()
    {
        const string noCapabilities =
            "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{}}";
        var (status, refused) = await CallAsync(1, "test_missing_capability", meta: noCapabilities);
        Assert.Equal(400, status);
        Assert.Equal(-32021, RawMcp.ErrorCode(refused));
        Assert.Equal("{\"sampling\":{}}", refused.GetProperty("error").GetProperty("data").GetProperty("requiredCapabilities").GetRawText());

        var (sampled, allowed) = await CallAsync(2, "test_missing_capability", meta: ModernRaw.Envelope.Replace("{}}", "{\"sampling\":{}}}"));
        Assert.Equal(200, sampled);
        Assert.Equal("The client declared sampling.", allowed.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString());

        // Another error the server raises (slow's -32602 for a negative ms) is relayed with 200, as for every in-band error.
        var (other, negative) = await ModernRaw.SendAsync(
            Http,
            ModernRaw.Post(_gateway.McpUrl("f"), ModernRaw.Body(3, "tools/call", "\"name\":\"slow\",\"arguments\":{\"ms\":-1}"), "tools/call", "slow")
        );
        Assert.Equal(-32602, RawMcp.ErrorCode(negative));
        Assert.Contains("ms must not be negative", RawMcp.ErrorMessage(negative), StringComparison.Ordinal);
        Assert.Equal(200, other);
    }
}
