package models

import (
	"strconv"
	"strings"
)

// The French words of the statistics' codes, shared by the JSON report, the CSV and
// the console page, so that they say the same thing.
var statsLabels = map[string]map[string]string{
	"organization_type": {
		string(OrgAssociation1901): "Association loi 1901", string(OrgAssociation1907): "Association loi 1907",
		string(OrgInformalCollective): "Collectif informel", string(OrgUnion): "Syndicat",
		string(OrgFoundation): "Fondation", string(OrgOther): "Autre",
	},
	"sectors": {
		"education": "Éducation et formation", "environment": "Environnement", "culture": "Culture",
		"social": "Social", "mutual_aid": "Entraide", "leisure": "Loisirs",
		"fundamental_rights": "Défense des droits fondamentaux", "political": "Activité politique",
		"economy": "Économie", "sport": "Sport", "health": "Santé", "research": "Recherche",
		"justice": "Justice", "spiritual": "Spirituel ou philosophique", "tourism": "Tourisme",
	},
	"office_suite": {string(OfficeCollabora): "Collabora Online", string(OfficeOnlyOffice): "OnlyOffice", string(OfficeNone): "Aucune"},
	"outcome": {
		string(OutcomeWaiting): "En attente de décision", string(OutcomeOnHold): "Mise en attente",
		string(OutcomeAccepted): "Acceptée", string(OutcomeRejected): "Refusée", string(OutcomeWithdrawn): "Retirée",
	},
	"decisions": {string(OutcomeOnHold): "Mises en attente", string(OutcomeAccepted): "Acceptées", string(OutcomeRejected): "Refusées"},
	"deactivations": {
		StatsCauseAdmin: "Par l'administrateur de l'espace", StatsCauseInactivity: "Pour inactivité",
		StatsCauseModerators: "Par les modérateurs",
	},
	"ends": {
		StatsEndDeletedAtRequest: "Espace supprimé à la demande de son administrateur", StatsEndDeletedInactivity: "Espace supprimé pour inactivité",
		StatsEndDeletedModerators: "Espace supprimé par les modérateurs", StatsEndWithdrawn: "Demande retirée",
	},
	"storage": {
		"0": "Vide", "1-100mb": "Jusqu'à 100 Mo", "100mb-1gb": "De 100 Mo à 1 Go",
		"1-10gb": "De 1 à 10 Go", "10gb+": "Plus de 10 Go",
	},
	"budget": {BudgetNotGiven: "Non renseigné"},
}

// statsLabelsAlias gives breakdowns that share their words with another.
var statsLabelsAlias = map[string]string{
	"office_suite_requested": "office_suite", "deactivated_now": "deactivations",
}

// StatsLabel is the French label of a code of a breakdown: the words above, or the
// band or period written out ("10 à 29", "50 et plus", "avant 1980").
func StatsLabel(key, code string) string {
	if alias, ok := statsLabelsAlias[key]; ok {
		key = alias
	}
	if label, ok := statsLabels[key][code]; ok {
		return label
	}
	unit := ""
	if key == "budget" {
		unit = " €"
	}
	if year, ok := strings.CutPrefix(code, "before-"); ok {
		return "Avant " + year
	}
	if low, ok := strings.CutSuffix(code, "+"); ok {
		return frenchNumber(low) + unit + " et plus"
	}
	if low, high, ok := strings.Cut(code, "-"); ok {
		return frenchNumber(low) + " à " + frenchNumber(high) + unit
	}
	return frenchNumber(code) + unit
}

// frenchNumber writes digits with a narrow no-break space between thousands, as French
// does; anything else is returned as is. Years stay as they are.
func frenchNumber(s string) string {
	n, err := strconv.Atoi(s)
	if err != nil || n < 10_000 {
		return s
	}
	var parts []string
	for n >= 1000 {
		parts = append([]string{strconv.Itoa(n%1000 + 1000)[1:]}, parts...)
		n /= 1000
	}
	return strings.Join(append([]string{strconv.Itoa(n)}, parts...), "\u202f")
}
