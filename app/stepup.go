package app

// Step-up confirmation of sensitive actions lives in confirm.go
// (RequireConfirmation).
