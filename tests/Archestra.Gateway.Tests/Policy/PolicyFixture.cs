using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Policy;

/// <summary>
/// server-everything twice, as "web" (a source of untrusted content) and "mail" (a tool that can send data
/// out), in the profile "agent", with the policies the end-to-end tests exercise. Loaded from a real file,
/// so reloading it is tested the way operators do it.
/// </summary>
public sealed class PolicyFixture : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("archestra-policy-").FullName;

    internal GatewayHarness Gateway { get; private set; } = null!;

    public string ConfigPath => Path.Combine(_directory, "archestra.json");

    public static string Config(string extraInvocationPolicies = "")
    {
        var node = JsonSerializer.Serialize(Repo.Node);
        var everything = JsonSerializer.Serialize(Repo.Everything);
        return $$"""
            {
              "mcpServers": {
                "web": { "command": {{node}}, "args": [{{everything}}, "stdio"] },
                "mail": { "command": {{node}}, "args": [{{everything}}, "stdio"] }
              },
              "profiles": {
                "agent": {
                  "servers": ["web", "mail"],
                  "tools": {
                    "mail__*": { "resultTreatment": "trusted" },
                    "web__get-sum": { "resultTreatment": "trusted", "allowUsageWhenUntrustedDataIsPresent": true }
                  }
                }
              },
              "policies": {
                "toolInvocation": [
                  {{extraInvocationPolicies}}
                  { "id": "never-env", "tool": "mail__get-env", "action": "block_always", "reason": "the environment holds secrets" },
                  { "id": "no-password-mail", "tool": "mail__echo", "action": "block_when_context_is_untrusted",
                    "conditions": [{ "key": "message", "operator": "contains", "value": "password" }],
                    "reason": "credentials never leave after untrusted input" },
                  { "id": "status-lines", "tool": "mail__echo", "action": "allow_when_context_is_untrusted",
                    "conditions": [{ "key": "message", "operator": "startsWith", "value": "status:" }],
                    "reason": "status lines carry no data" },
                  { "id": "approve-big-sums", "tool": "mail__get-sum", "action": "require_approval",
                    "conditions": [{ "key": "a", "operator": "regex", "value": "^[0-9]{4,}$" }],
                    "reason": "large amounts need a person" }
                ],
                "trustedData": [
                  { "id": "withhold-secrets", "tool": "web__echo", "action": "block_always",
                    "conditions": [{ "key": "content[*].text", "operator": "contains", "value": "SECRET" }],
                    "reason": "results mentioning SECRET never reach the client" },
                  { "id": "internal-notes", "tool": "web__echo", "action": "mark_as_trusted",
                    "conditions": [{ "key": "content[*].text", "operator": "startsWith", "value": "Echo: internal:" }],
                    "reason": "internal notes are ours" }
                ]
              }
            }
            """;
    }

    public async ValueTask InitializeAsync()
    {
        await File.WriteAllTextAsync(ConfigPath, Config());
        var loaded = ConfigLoader.Load(ConfigPath, Environment.GetEnvironmentVariable);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Errors));
        Gateway = await GatewayHarness.StartAsync(loaded.Config!, enforceToolDefaults: true);
    }

    public async ValueTask DisposeAsync()
    {
        if (Gateway is not null)
        {
            await Gateway.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }
}
