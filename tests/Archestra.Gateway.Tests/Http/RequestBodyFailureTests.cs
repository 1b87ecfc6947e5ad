using System.Net;
using System.Text;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Admin;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Http;

/// <summary>
/// A gateway whose request bodies must arrive at 100 bytes/s after a 2 s grace period (Kestrel's shortest), and whose
/// admin API takes bodies up to 64 KiB; the LLM providers are never reached.
/// </summary>
public sealed class RequestBodyFailureFixture : IAsyncLifetime
{
    internal GatewayHarness Gateway { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var nowhere = new Uri("http://127.0.0.1:9/v1");
        var providers = new[]
        {
            new LlmProviderConfig
            {
                Name = "openai",
                Kind = LlmProviderKind.OpenAi,
                BaseUrl = nowhere,
                ApiKey = "sk-never-used",
            },
            new LlmProviderConfig
            {
                Name = "anthropic",
                Kind = LlmProviderKind.Anthropic,
                BaseUrl = nowhere,
                ApiKey = "sk-ant-never-used",
            },
        };
        Gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                Limits = new LimitsConfig
                {
                    MinRequestBodyBytesPerSecond = 100,
                    RequestBodyGracePeriod = TimeSpan.FromSeconds(2),
                    MaxAdminRequestBodyBytes = 64 * 1024,
                },
                AdminKeys = AdminClient.FileKeys,
                LlmProviders = providers,
                Profiles =
                [
                    new ProfileConfig
                    {
                        Name = "P",
                        Servers = [],
                        Llm = new ProfileLlmConfig
                        {
                            OpenAi = "openai",
                            Anthropic = "anthropic",
                            PassThrough = true,
                        },
                    },
                ],
            }
        );
    }

    public async ValueTask DisposeAsync() => await Gateway.DisposeAsync();
}

/// <summary>
/// A request body Kestrel refuses while a listener reads it gets that refusal's status in the listener's own error
/// format (JSON-RPC, the provider's JSON, problem+json), never 200 with an empty body. Raw sockets: no client library
/// sends a bad chunk size or stops halfway through a body.
/// </summary>
public sealed class RequestBodyFailureTests : IClassFixture<RequestBodyFailureFixture>
{
    private const string BadChunk = "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n";

    // The headers promise 100 bytes; one arrives and the rest never does, with the connection left open.
    private const string StalledBody = "Content-Length: 100\r\n\r\n{";

    private readonly RequestBodyFailureFixture _fixture;

    public RequestBodyFailureTests(RequestBodyFailureFixture fixture)
    {
        _fixture = fixture;
    }

    private Uri Server => _fixture.Gateway.BaseUrl;

    private static string Post(string path, string extraHeaders = "") =>
        $"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n{extraHeaders}";

    private static JsonElement Json(RawHttp.Answer answer)
    {
        Assert.StartsWith("application/", answer.Header("Content-Type") ?? "", StringComparison.Ordinal);
        Assert.NotEmpty(answer.Body);
        return JsonDocument.Parse(answer.Body).RootElement.Clone();
    }

    [Fact]
    public async Task A_bad_chunk_size_on_the_MCP_endpoint_gets_400_with_a_parse_error_and_a_null_id()
    {
        // The printf repro, byte for byte.
        var answer = await RawHttp.ExchangeAsync(Server, Post("/v1/mcp/P", "Authorization: Bearer T\r\n") + BadChunk);

        Assert.Equal(400, answer.Status);
        var message = Json(answer);
        Assert.Equal(-32700, RawMcp.ErrorCode(message));
        Assert.Equal(JsonValueKind.Null, message.GetProperty("id").ValueKind);
        Assert.Contains("could not be read: Bad chunk size data", RawMcp.ErrorMessage(message), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_chunk_size_on_the_OpenAI_endpoint_gets_400_in_OpenAIs_error_format()
    {
        var answer = await RawHttp.ExchangeAsync(Server, Post("/v1/openai/P/chat/completions", "Authorization: Bearer sk-client\r\n") + BadChunk);

        Assert.Equal(400, answer.Status);
        var error = Json(answer).GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Contains("could not be read: Bad chunk size data", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_chunk_size_on_the_Anthropic_endpoint_gets_400_in_Anthropics_error_format()
    {
        var answer = await RawHttp.ExchangeAsync(Server, Post("/v1/anthropic/P/v1/messages", "x-api-key: sk-ant-client\r\n") + BadChunk);

        Assert.Equal(400, answer.Status);
        var body = Json(answer);
        Assert.Equal("error", body.GetProperty("type").GetString());
        Assert.Equal("invalid_request_error", body.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains("could not be read: Bad chunk size data", body.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_chunk_size_on_the_admin_API_gets_400_as_a_problem()
    {
        var answer = await RawHttp.ExchangeAsync(
            _fixture.Gateway.Server.AdminUrl,
            Post("/api/mcp-servers", $"Authorization: Bearer {AdminClient.RootKey}\r\n") + BadChunk
        );

        Assert.Equal(400, answer.Status);
        Assert.Equal("application/problem+json", answer.Header("Content-Type"));
        var problem = Json(answer);
        Assert.Equal(400, problem.GetProperty("status").GetInt32());
        Assert.Contains("could not be read: Bad chunk size data", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stalled_body_on_the_MCP_endpoint_gets_408_naming_the_minimum_rate()
    {
        var answer = await RawHttp.ExchangeAsync(Server, Post("/v1/mcp/P") + StalledBody);

        Assert.Equal(408, answer.Status);
        var message = Json(answer);
        Assert.Equal(-32600, RawMcp.ErrorCode(message));
        Assert.Equal(JsonValueKind.Null, message.GetProperty("id").ValueKind);
        Assert.Contains("minimum of 100 bytes/s", RawMcp.ErrorMessage(message), StringComparison.Ordinal);
        Assert.Contains("limits.minRequestBodyBytesPerSecond", RawMcp.ErrorMessage(message), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stalled_body_on_the_OpenAI_endpoint_gets_408_in_OpenAIs_error_format()
    {
        var answer = await RawHttp.ExchangeAsync(Server, Post("/v1/openai/P/chat/completions", "Authorization: Bearer sk-client\r\n") + StalledBody);

        Assert.Equal(408, answer.Status);
        var error = Json(answer).GetProperty("error");
        Assert.Equal("request_timeout", error.GetProperty("code").GetString());
        Assert.Contains("minimum of 100 bytes/s", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stalled_body_on_the_Anthropic_endpoint_gets_408_in_Anthropics_error_format()
    {
        var answer = await RawHttp.ExchangeAsync(Server, Post("/v1/anthropic/P/v1/messages", "x-api-key: sk-ant-client\r\n") + StalledBody);

        Assert.Equal(408, answer.Status);
        var body = Json(answer);
        Assert.Equal("invalid_request_error", body.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains("minimum of 100 bytes/s", body.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stalled_body_on_the_admin_API_gets_408_as_a_problem()
    {
        var answer = await RawHttp.ExchangeAsync(
            _fixture.Gateway.Server.AdminUrl,
            Post("/api/mcp-servers", $"Authorization: Bearer {AdminClient.RootKey}\r\n") + StalledBody
        );

        Assert.Equal(408, answer.Status);
        Assert.Equal("application/problem+json", answer.Header("Content-Type"));
        Assert.Contains("minimum of 100 bytes/s", Json(answer).GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_admin_body_declared_over_the_limit_gets_413_as_a_problem_naming_the_setting()
    {
        var answer = await RawHttp.ExchangeAsync(
            _fixture.Gateway.Server.AdminUrl,
            Post("/api/mcp-servers", $"Authorization: Bearer {AdminClient.RootKey}\r\n") + "Content-Length: 104857600\r\n\r\n{\"name\":\""
        );

        Assert.Equal(413, answer.Status);
        Assert.Equal("application/problem+json", answer.Header("Content-Type"));
        var problem = Json(answer);
        Assert.Equal("Content Too Large", problem.GetProperty("title").GetString());
        Assert.Contains(
            "exceeds the limit of 65536 bytes (limits.maxAdminRequestBodyBytes)",
            problem.GetProperty("detail").GetString(),
            StringComparison.Ordinal
        );
    }

    [Fact]
    public async Task A_chunked_admin_body_that_grows_over_the_limit_gets_413_and_creates_nothing()
    {
        var padding = new string('x', 100 * 1024);
        var json = $$"""{"name":"huge","command":"node","args":["{{padding}}"]}""";
        using var admin = new AdminClient(_fixture.Gateway.Server.AdminUrl, AdminClient.RootKey);
        using var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(json)));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var http = new HttpClient { BaseAddress = _fixture.Gateway.Server.AdminUrl };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminClient.RootKey);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/mcp-servers") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/api/mcp-servers/huge")).Status);
    }
}
