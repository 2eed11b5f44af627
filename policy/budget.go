package policy

import (
	"fmt"

	"cel.dev/cel-go/cel"
)

// RuleCostLimit bounds the CEL cost of evaluating one rule. A unit of cost
// is roughly 100 ns of CPU on this project's reference machine, so a rule
// costs at most about a second.
const RuleCostLimit = 10_000_000

// ServerBudget is the CEL cost a registry spends on one policy evaluation
// it runs for a visitor (the web pages' policy form), over all the rules:
// about a quarter of a second of CPU. vouch verify, which evaluates on the
// user's own machine, has no budget beyond RuleCostLimit per rule.
const ServerBudget = 2_500_000

// Budget is the CEL cost one evaluation may still spend over all its rules.
type Budget struct{ left, limit uint64 }

// NewBudget returns a budget of n cost units.
func NewBudget(n uint64) *Budget { return &Budget{left: n, limit: n} }

// Left returns the cost units not yet spent.
func (b *Budget) Left() uint64 { return b.left }

// BudgetError reports a policy whose rules cost more than the evaluation's
// budget; Rule names the rule that spent it.
type BudgetError struct {
	Limit uint64
	Rule  string
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("policy: rule %q spent this evaluation's budget of %d units of CEL evaluation; simplify the rules, or run vouch verify, which evaluates on your machine", e.Rule, e.Limit)
}

// errNotEvaluated is the reason of a rule left out once the evaluation
// stopped.
type errNotEvaluated struct{ cause error }

func (e errNotEvaluated) Error() string {
	return "the evaluation stopped before this rule (" + e.cause.Error() + ")"
}

// program plans a rule with a cost limit; interrupts are checked often
// enough for a cancelled context to stop a long comprehension.
func program(e *cel.Env, ast *cel.Ast, limit uint64) (cel.Program, error) {
	return e.Program(ast, cel.CostLimit(limit), cel.InterruptCheckFrequency(100))
}
