using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Admin;

/// <summary>An HTTP client for the admin API with one admin key.</summary>
internal sealed class AdminClient : IDisposable
{
    public const string RootKey = "root-admin-key-for-tests-0123456789";
    public const string ReaderKey = "reader-admin-key-for-tests-0123456789";

    private readonly HttpClient _http;

    public AdminClient(Uri adminUrl, string? key)
    {
        _http = new HttpClient { BaseAddress = adminUrl };
        if (key is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
    }

    public static IReadOnlyList<AdminKeyConfig> FileKeys =>
        [
            new("root", System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(RootKey)), true),
            new("reader", System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(ReaderKey)), false),
        ];

    /// <summary>server-everything over stdio, as a file-managed server.</summary>
    public static McpServerConfig FileServer(string name) => GatewayHarness.Stdio(name, Repo.Node, Repo.Everything, "stdio");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public Task<Reply> GetAsync(string path) => SendAsync(HttpMethod.Get, path, null);

    public Task<Reply> PostAsync(string path, string json) => SendAsync(HttpMethod.Post, path, json);

    public Task<Reply> PutAsync(string path, string json) => SendAsync(HttpMethod.Put, path, json);

    public Task<Reply> DeleteAsync(string path) => SendAsync(HttpMethod.Delete, path, null);

    public async Task<Reply> SendAsync(HttpMethod method, string path, string? json, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        }

        using var response = await _http.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return new Reply(response.StatusCode, response.Content.Headers.ContentType?.MediaType, text, response.Headers.WwwAuthenticate.ToString());
    }

    public void Dispose() => _http.Dispose();
}

internal sealed record Reply(HttpStatusCode Status, string? ContentType, string Text, string WwwAuthenticate)
{
    public JsonElement Json => JsonDocument.Parse(Text).RootElement;

    public IEnumerable<JsonElement> Items => Json.GetProperty("items").EnumerateArray();

    /// <summary>The (path, message) pairs of a validation problem.</summary>
    public IReadOnlyList<(string Path, string Message)> Errors =>
        Json.TryGetProperty("errors", out var errors)
            ? errors.EnumerateArray().Select(e => (e.GetProperty("path").GetString()!, e.GetProperty("message").GetString()!)).ToList()
            : [];

    public override string ToString() => $"{(int)Status} {Text}";
}
