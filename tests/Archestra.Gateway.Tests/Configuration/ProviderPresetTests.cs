using System.Text.RegularExpressions;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Configuration;

/// <summary>
/// README "Provider presets": the configuration block loads as it is written, and each service's base URL is the one its
/// own documentation gives the OpenAI SDK (checked 2026-12-06; the sources are named in the README's table).
/// </summary>
public sealed partial class ProviderPresetTests
{
    public static TheoryData<string, string> Documented =>
        new()
        {
            { "vllm", "http://localhost:8000/v1" },
            { "ollama", "http://localhost:11434/v1" },
            { "groq", "https://api.groq.com/openai/v1" },
            { "mistral", "https://api.mistral.ai/v1" },
            { "deepseek", "https://api.deepseek.com" },
            { "openrouter", "https://openrouter.ai/api/v1" },
            { "together", "https://api.together.ai/v1" },
            { "cerebras", "https://api.cerebras.ai/v1" },
        };

    [GeneratedRegex("<!-- provider presets: checked by ProviderPresetTests -->\\s*```json\\n(?<json>.*?)```", RegexOptions.Singleline)]
    private static partial Regex PresetBlock();

    private static GatewayConfig LoadReadmeBlock()
    {
        var match = PresetBlock().Match(File.ReadAllText(Path.Combine(Repo.Root, "README.md")));
        Assert.True(match.Success, "README.md has no provider presets block");
        var result = ConfigLoader.LoadFromJson(match.Groups["json"].Value, "README.md", name => $"value-of-{name}");
        Assert.Empty(result.Errors);
        return result.Config!;
    }

    [Theory]
    [MemberData(nameof(Documented))]
    public void The_readme_preset_loads_with_the_documented_base_url(string name, string baseUrl)
    {
        var provider = Assert.Single(LoadReadmeBlock().LlmProviders, p => p.Name == name);

        Assert.Equal(LlmProviderKind.OpenAi, provider.Kind);
        Assert.Equal(baseUrl, provider.BaseUrl.ToString().TrimEnd('/'));
    }

    [Fact]
    public void The_readme_lists_exactly_the_documented_services()
    {
        Assert.Equal(Documented.Select(row => row.Data.Item1).Order(), LoadReadmeBlock().LlmProviders.Select(p => p.Name).Order());
    }
}
