namespace Archestra.Policy.Evaluation;

/// <summary>Everything one profile knows about one tool: its defaults and the rules of each list (null: none).</summary>
internal sealed class CompiledTool(ToolSettings settings, RuleProgram? invocation, RuleProgram? result)
{
    public ToolSettings Settings { get; } = settings;

    public RuleProgram? Invocation { get; } = invocation;

    public RuleProgram? Result { get; } = result;
}
