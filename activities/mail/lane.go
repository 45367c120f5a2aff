package mail

// Lane says how soon a mail must go out when mails wait for the fleet's rate
// (MAIL_RATE): the mails someone is waiting for overtake the bulk.
type Lane int

// The two lanes. Their order is the order mails leave a backlog in.
const (
	// LaneUrgent: a person is waiting for it, in front of a page or their mailbox
	// (receipt, credentials, confirmation and sign-in links, a decision).
	LaneUrgent Lane = iota + 1
	// LaneBulk: mails that fall due by the hundred on the same day (inactivity
	// warnings and notices, digests): a few minutes late is fine.
	LaneBulk
)

// lanes gives every kind its lane; a kind missing here is a mistake that LaneOf
// answers with LaneUrgent, the lane that never makes a person wait.
var lanes = map[Kind]Lane{
	KindReceipt:             LaneUrgent,
	KindOnHold:              LaneUrgent,
	KindRejected:            LaneUrgent,
	KindAccepted:            LaneUrgent,
	KindProvisioningFailed:  LaneUrgent,
	KindReactivated:         LaneUrgent,
	KindConfirmDeactivation: LaneUrgent,
	KindConfirmDeletion:     LaneUrgent,
	KindConfirmOffice:       LaneUrgent,
	KindModeratorInvitation: LaneUrgent,
	KindModeratorReset:      LaneUrgent,
	KindWithdrawn:           LaneUrgent,
	KindReactivationLink:    LaneUrgent,
	// Someone waits for each link of a change of address, and for the answer.
	KindContactChangeCurrent:   LaneUrgent,
	KindContactChangeNew:       LaneUrgent,
	KindContactChanged:         LaneUrgent,
	KindContactChangedPrevious: LaneUrgent,
	KindRestored:               LaneUrgent,

	KindFirstWarning:      LaneBulk,
	KindSecondWarning:     LaneBulk,
	KindDeactivated:       LaneBulk,
	KindDeletionNotice:    LaneBulk,
	KindDeleted:           LaneBulk,
	KindDeletedModerators: LaneBulk,
	KindModeratorDigest:   LaneBulk,
	KindAnnouncement:      LaneBulk,
}

// LaneOf returns the lane of a kind of mail.
func LaneOf(kind Kind) Lane {
	if lane, ok := lanes[kind]; ok {
		return lane
	}
	return LaneUrgent
}
