# W1S: a realistic personal script of 20 rules (bench/run installs it for every user).
require ["fileinto", "mailbox", "imap4flags", "vacation", "variables", "envelope", "body"];

# Mailing lists into their folders.
if header :contains "List-Id" "announce.lists.example.org" { fileinto :create "Lists/announce"; stop; }
if header :contains "List-Id" "dev.lists.example.org" { fileinto :create "Lists/dev"; stop; }
if header :contains "List-Id" "users.lists.example.org" { fileinto :create "Lists/users"; stop; }
if header :contains "List-Id" "security.lists.example.org" { fileinto :create "Lists/security"; stop; }
if header :contains "List-Id" "jobs.lists.example.org" { fileinto :create "Lists/jobs"; stop; }
if header :matches "List-Id" "*<*.github.com>" { fileinto :create "GitHub"; stop; }
if address :domain "from" "newsletter.example.com" { fileinto :create "Newsletters"; stop; }
if address :is "from" "noreply@shop.example.net" { fileinto :create "Shopping"; stop; }
if header :contains "subject" "[invoice]" { fileinto :create "Invoices"; }
if header :contains "subject" "receipt" { fileinto :create "Receipts"; stop; }

# A few flags.
if address :is "from" "boss@example.test" { addflag "\\Flagged"; }
if header :contains "subject" "urgent" { addflag "$Urgent"; }
if header :contains "x-priority" "1" { addflag "\\Flagged"; }
if envelope :domain "from" "partner.example.com" { addflag "$Partner"; }
if body :contains "unsubscribe here" { addflag "$Bulk"; }
if header :matches "subject" "Re: *" { set "thread" "${1}"; }
if size :over 5M { addflag "$Large"; }
if exists "x-spam-flag" { fileinto :create "Junk"; stop; }
if address :localpart "to" "sales" { fileinto :create "Sales"; stop; }

# One vacation.
vacation :days 7 :subject "Out of office" "I am away until Monday and will answer then.";
