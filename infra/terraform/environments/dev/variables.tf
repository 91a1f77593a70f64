variable "aws_region" {
  type        = string
  description = "AWS region of the EKS cluster."
  default     = "eu-central-1"
  validation {
    condition     = can(regex("^[a-z]{2}-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be an AWS region code such as eu-central-1."
  }
}

variable "availability_zones" {
  type        = list(string)
  description = "Zones of the EKS cluster."
  default     = ["eu-central-1a", "eu-central-1b", "eu-central-1c"]
  validation {
    condition     = length(var.availability_zones) >= 2
    error_message = "Give at least two availability zones."
  }
}

variable "admin_cidrs" {
  type        = list(string)
  description = "Egress CIDRs of the CI runners and administrators, allowed to reach the Kubernetes APIs."
  validation {
    condition     = length(var.admin_cidrs) > 0 && alltrue([for c in var.admin_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "admin_cidrs must be non-empty valid CIDRs, never 0.0.0.0/0."
  }
}


variable "github_repository" {
  type        = string
  description = "GitHub repository (owner/name) whose workflows get the deploy and plan roles."
  default     = "tasklane/tasklane"
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}
